package images_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestHistory: capsa history prints what the docker CLI prints from the
// same GET /images/{name}/history (docker's columns, truncation, -q,
// --human=false, --no-trunc, --format); the top entry is the image ID, the
// older ones <missing>, each with its layer's size and the commit's
// comment.
func TestHistory(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "h1", "busybox", "sh", "-c", "echo a long command line that goes on and on > /f")
	id := d.MustCapsa("commit", "-m", "first commit", "h1", "hist:1")

	top := d.MustCapsa("history", "--no-trunc", "--format", "{{.ID}}|{{.Comment}}|{{.CreatedBy}}", "hist:1")
	lines := strings.Split(top, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], id+"|first commit|sh -c echo a long") {
		t.Fatalf("history's top entry: %q", top)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "<missing>|") {
			t.Fatalf("an older entry is not <missing>: %q", l)
		}
	}
	if got := d.MustCapsa("history", "-q", "hist:1"); !strings.HasPrefix(got, id[7:19]+"\n<missing>") {
		t.Fatalf("history -q: %q", got)
	}
	if got := d.MustCapsa("image", "history", "--format", "{{.Size}}", "--human=false", "hist:1"); strings.Contains(got, "B") {
		t.Fatalf("image history --human=false sizes: %q", got)
	}

	for _, args := range [][]string{
		{"history", "hist:1"},
		{"history", "--no-trunc", "hist:1"},
		{"history", "--human=false", "hist:1"},
		{"history", "-q", "hist:1"},
		{"history", "--format", "{{.ID}} {{.Size}} {{.CreatedBy}}", "busybox"},
	} {
		want := d.Docker(args...)
		if want.Code != 0 {
			t.Fatalf("docker %v: %v", args, want)
		}
		got := d.Capsa(args...)
		// The two run a moment apart: "Less than a second ago" may have
		// become "1 second ago" (column widths with it).
		if got.Code != 0 || sameUpToAge(got.Stdout) != sameUpToAge(want.Stdout) {
			t.Errorf("capsa %v:\n%s\ndocker:\n%s", args, got.Stdout, want.Stdout)
		}
	}
	if r := d.Capsa("history", "nosuch"); r.Code == 0 || !strings.Contains(r.Stderr, "nosuch") {
		t.Fatalf("history of a missing image: %v", r)
	}
}

// relativeAge is docker's "N seconds ago" of an image created moments ago.
var relativeAge = regexp.MustCompile(`(Less than a second|About a minute|[0-9]+ seconds?) ago`)

// sameUpToAge is a history table with the relative ages and runs of
// spaces made uniform.
func sameUpToAge(s string) string {
	s = relativeAge.ReplaceAllString(s, "AGE")
	return strings.Join(strings.Fields(s), " ")
}
