package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// pullStream is a pull of two layers as capsad (and dockerd) stream it.
const pullStream = `{"status":"Pulling from library/bb","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":1000000,"total":4000000},"id":"aaa"}
{"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"bbb"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Digest: sha256:0123"}
{"status":"Status: Downloaded newer image for bb:latest"}
`

// TestProgressTerminal: on a terminal each layer keeps its line, redrawn
// in place (cursor up to it, erase, bar, cursor back down), as docker's
// jsonmessage display does.
func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	if err := displayProgressStream(strings.NewReader(pullStream), &out, true, 200, false); err != nil {
		t.Fatal(err)
	}
	bar := func(eq, sp int) string { return "[" + strings.Repeat("=", eq) + ">" + strings.Repeat(" ", sp) + "] " }
	want := "latest: Pulling from library/bb\n" +
		// aaa is line 0 of 1, then bbb line 1 of 2.
		"\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B" +
		"\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B" +
		// aaa is two lines up, bbb one.
		"\x1b[2A\x1b[2K\raaa: Downloading " + bar(12, 38) + "     1MB/4MB\r\x1b[2B" +
		"\x1b[1A\x1b[2K\rbbb: Downloading " + bar(25, 25) + "    500B/1kB\r\x1b[1B" +
		"\x1b[2A\x1b[2K\raaa: Pull complete \r\x1b[2B" +
		"\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B" +
		"Digest: sha256:0123\n" +
		"Status: Downloaded newer image for bb:latest\n"
	if got := out.String(); got != want {
		t.Fatalf("terminal display:\ngot  %q\nwant %q", got, want)
	}
}

// TestProgressPlain: off a terminal the steps are plain lines and the
// byte counts are left out (printPullStream's lines, unchanged).
func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	if err := printPullStream(&out, strings.NewReader(pullStream), false); err != nil {
		t.Fatal(err)
	}
	want := "latest: Pulling from library/bb\naaa: Pulling fs layer\nbbb: Pulling fs layer\n" +
		"aaa: Pull complete\nbbb: Pull complete\nDigest: sha256:0123\nStatus: Downloaded newer image for bb:latest\n"
	if got := out.String(); got != want {
		t.Fatalf("plain display:\ngot  %q\nwant %q", got, want)
	}
	out.Reset()
	if err := printPullStream(&out, strings.NewReader(pullStream), true); err != nil || out.Len() != 0 {
		t.Fatalf("quiet display: %q, %v", out.String(), err)
	}
	err := printPullStream(&out, strings.NewReader(`{"errorDetail":{"message":"boom"},"error":"boom"}`), false)
	if err == nil || err.Error() != "boom" {
		t.Fatalf("error message: %v", err)
	}
}

func TestRenderProgress(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		p     jsonstream.Progress
		width int
		want  string
	}{
		{jsonstream.Progress{}, 200, ""},
		{jsonstream.Progress{Current: 2048}, 200, " 2.048kB"},
		{jsonstream.Progress{Current: 50, Total: 100}, 80, "     50B/100B"},
		{jsonstream.Progress{Current: 100, Total: 100}, 200, "[" + strings.Repeat("=", 50) + ">] " + "    100B/100B"},
		{jsonstream.Progress{Current: 200, Total: 100}, 200, "[" + strings.Repeat("=", 50) + ">]     200B"},
		{jsonstream.Progress{Current: 25, Total: 100, Start: 990}, 80, "     25B/100B 30s"},
		{jsonstream.Progress{Current: 3, Total: 10, Units: "layers"}, 80, "3/10 layers"},
	} {
		if got := renderProgress(c.p, c.width, now); got != c.want {
			t.Errorf("renderProgress(%+v, %d) = %q, want %q", c.p, c.width, got, c.want)
		}
	}
}

// TestProgressCutOff: a stream that ends mid-message (capsad killed
// during a pull) says so, instead of a bare "unexpected EOF".
func TestProgressCutOff(t *testing.T) {
	var out bytes.Buffer
	err := displayProgressStream(strings.NewReader(`{"status":"Pulling fs layer","id":"aaa"}`+"\n"+`{"status":"Downlo`), &out, false, 0, false)
	if err == nil || !strings.Contains(err.Error(), "closed the progress stream before the end") {
		t.Fatalf("err = %v", err)
	}
}
