package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o644) }

func TestTemplateFuncs(t *testing.T) {
	v := map[string]any{"Name": "hello world", "List": []string{"a", "b"}, "Obj": map[string]int{"x": 1}}
	tests := []struct{ format, want string }{
		{"{{upper .Name}}", "HELLO WORLD"},
		{"{{lower \"ABC\"}}", "abc"},
		{"{{title .Name}}", "Hello World"},
		{"{{join .List \",\"}}", "a,b"},
		{"{{truncate .Name 5}}", "hello"},
		{"{{pad .Name 1 2}}|", " hello world  |"},
		{"{{json .Obj}}", `{"x":1}`},
		{"{{json .}}", `{"List":["a","b"],"Name":"hello world","Obj":{"x":1}}`},
		{"json", `{"List":["a","b"],"Name":"hello world","Obj":{"x":1}}`},
		{`{{.Name}}\t{{index .List 1}}`, "hello world\tb"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := executeTemplate(&buf, tt.format, v); err != nil {
			t.Errorf("%s: %v", tt.format, err)
			continue
		}
		if got := strings.TrimSuffix(buf.String(), "\n"); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.format, got, tt.want)
		}
	}
	var buf bytes.Buffer
	if err := executeTemplate(&buf, "{{.Name", v); err == nil || !strings.Contains(err.Error(), "template parsing error") {
		t.Errorf("bad template: %v", err)
	}
}

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func psItems() []container.Summary {
	return []container.Summary{
		{
			ID: "d5e093012d5bfb417758d634c10c3d89fb84fca9d11d384f962a16f5b1d496bf", Names: []string{"/web"},
			Image: "busybox", Command: "sleep 100", Created: now.Add(-3 * time.Second).Unix(),
			State: "running", Status: "Up 3 seconds", Labels: map[string]string{"b": "2", "a": "1"},
		},
		{
			ID: "8fd265ef591859a5bd67f8056efd98334cb7797cd7f5a0e1738ecf29f27eec9f", Names: []string{"/lg"},
			Image: "sha256:ba15cd0afe72ef91fc66b97e97e75925fd708110cea022e1ba165c2184b228fc", Command: "sh -c 'echo a; echo b >&2'",
			Created: now.Add(-2 * time.Hour).Unix(), State: "exited", Status: "Exited (0) 2 seconds ago",
		},
	}
}

func TestPsTable(t *testing.T) {
	var buf bytes.Buffer
	if err := renderContainers(&buf, defaultPsFormat, psItems(), true, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                     PORTS     NAMES\n" +
		"d5e093012d5b   busybox        \"sleep 100\"              3 seconds ago   Up 3 seconds                         web\n" +
		"8fd265ef5918   ba15cd0afe72   \"sh -c 'echo a; echo…\"   2 hours ago     Exited (0) 2 seconds ago             lg\n"
	if buf.String() != want {
		t.Errorf("ps table:\ngot:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestPsFormats(t *testing.T) {
	tests := []struct {
		format string
		trunc  bool
		want   string
	}{
		{"{{.ID}}", true, "d5e093012d5b\n8fd265ef5918\n"},
		{"{{.Names}} {{.Labels}} {{.Label \"b\"}}", true, "web a=1,b=2 2\nlg  \n"},
		{"table {{.Names}}\t{{.State}}", true, "NAMES     STATE\nweb       running\nlg        exited\n"},
		{"{{.Command}}", false, "\"sleep 100\"\n\"sh -c 'echo a; echo b >&2'\"\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := renderContainers(&buf, tt.format, psItems(), tt.trunc, now); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%q: got %q, want %q", tt.format, buf.String(), tt.want)
		}
	}
	var buf bytes.Buffer
	if err := renderContainers(&buf, "json", psItems()[:1], true, now); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"ID":"d5e093012d5b"`, `"Names":"web"`, `"Status":"Up 3 seconds"`, `"Command":"\"sleep 100\""`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("--format json: %s lacks %s", buf.String(), field)
		}
	}
	// A table with no rows still has its header.
	buf.Reset()
	if err := renderContainers(&buf, defaultPsQuietFmt, nil, true, now); err != nil || buf.String() != "" {
		t.Errorf("empty quiet: %q %v", buf.String(), err)
	}
}

func TestImagesTable(t *testing.T) {
	items := []image.Summary{
		{ID: "sha256:ba15cd0afe72ef91fc66b97e97e75925fd708110cea022e1ba165c2184b228fc", RepoTags: []string{"busybox:latest", "registry:5000/bb:1"}, Created: now.Add(-48 * time.Hour).Unix(), Size: 1_980_000},
		{ID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Created: now.Add(-time.Minute).Unix(), Size: 512},
	}
	var buf bytes.Buffer
	if err := renderImages(&buf, defaultImagesFormat, items, true, false, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("images: %d lines:\n%s", len(lines), buf.String())
	}
	wantFields := [][]string{
		{"REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"},
		{"<none>", "<none>", "0123456789ab", "About", "a", "minute", "ago", "512B"},
		{"busybox", "latest", "ba15cd0afe72", "2", "days", "ago", "1.98MB"},
		{"registry:5000/bb", "1", "ba15cd0afe72", "2", "days", "ago", "1.98MB"},
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(wantFields[i], " ") {
			t.Errorf("line %d: got %q, want %q", i, got, wantFields[i])
		}
	}
	// Columns line up: every row's IMAGE ID starts where the header's does.
	col := strings.Index(lines[0], "IMAGE ID")
	for _, l := range lines[1:] {
		if l[col-3:col] != "   " || l[col] == ' ' {
			t.Errorf("column misaligned at %d: %q", col, l)
		}
	}
	buf.Reset()
	if err := renderImages(&buf, "{{.ID}}", items, true, true, now); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "0123456789ab\nba15cd0afe72\n" {
		t.Errorf("images -q: %q", buf.String())
	}
}

func TestWithLatest(t *testing.T) {
	for in, want := range map[string]string{
		"busybox": "busybox:latest", "busybox:1": "busybox:1", "localhost:5000/bb": "localhost:5000/bb:latest",
		"bb@sha256:abc": "bb@sha256:abc",
	} {
		if got := withLatest(in); got != want {
			t.Errorf("withLatest(%q) = %q, want %q", in, got, want)
		}
	}
}
