package images_test

import (
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestCommit commits a container that added, changed and deleted files
// and replaced a directory, on top of an image that was itself committed:
// the new image runs with the new CMD, shows the changes merged, and has
// the message, author and layer in its history and config.
func TestCommit(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "first", "busybox", "sh", "-c",
		"echo old > /mod && echo bye > /deleted && mkdir /dir && echo old > /dir/old")
	d.MustCapsa("commit", "first", "base:1")

	d.MustCapsa("run", "--name", "second", "base:1", "sh", "-c",
		"echo hello > /new && echo more >> /mod && rm /deleted && rm -r /dir && mkdir /dir && echo fresh > /dir/fresh")
	id := d.MustCapsa("commit", "-c", `CMD ["cat","/new"]`, "-m", "msg", "-a", "me", "second", "committed:v2")
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("capsa commit printed %q, want an image ID", id)
	}
	if got := d.MustCapsa("images", "-q", "--no-trunc", "committed:v2"); got != id {
		t.Fatalf("images -q --no-trunc committed:v2: got %q, want %q", got, id)
	}
	if got := d.MustCapsa("run", "--rm", "committed:v2"); got != "hello" {
		t.Fatalf("run of the committed image (CMD cat /new): got %q, want %q", got, "hello")
	}
	got := d.MustCapsa("run", "--rm", "committed:v2", "sh", "-c", "cat /mod; ls /dir; test -e /deleted && echo still-there; true")
	if want := "old\nmore\nfresh"; got != want {
		t.Fatalf("merged tree: got %q, want %q", got, want)
	}
	if got := d.MustCapsa("image", "inspect", "--format", "{{.Author}}|{{.Config.Cmd}}|{{len .RootFS.Layers}}", "committed:v2"); got != "me|[cat /new]|3" {
		t.Fatalf("inspect: got %q, want %q", got, "me|[cat /new]|3")
	}
	r := d.Docker("history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:v2")
	if r.Code != 0 {
		t.Fatalf("docker history: %v", r)
	}
	top, _, _ := strings.Cut(r.Stdout, "\n")
	if !strings.HasPrefix(top, "msg|sh -c echo hello") {
		t.Fatalf("history's top entry: got %q, want the message and the container's command", top)
	}
}

// TestCommitMissingContainer: a clear error, and no new image.
func TestCommitMissingContainer(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	before := d.MustCapsa("images", "-q")
	r := d.Capsa("commit", "nosuch", "x:1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "nosuch") {
		t.Fatalf("commit of a missing container: want an error naming it, got %v", r)
	}
	if after := d.MustCapsa("images", "-q"); after != before {
		t.Fatalf("images changed: %q, was %q", after, before)
	}
}

// TestDockerCommit runs docker commit against a running container through
// capsad: the container is paused while its layer is read and runs on.
func TestDockerCommit(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo live > /f && sleep 300")
	t.Cleanup(func() { d.Capsa("rm", "-f", "live") })
	// The file is there once exec sees it.
	for i := 0; i < 50; i++ {
		if d.Capsa("exec", "live", "cat", "/f").Code == 0 {
			break
		}
	}
	r := d.Docker("commit", "-c", "ENV A=b", "live", "dock:1")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sha256:") {
		t.Fatalf("docker commit: %v", r)
	}
	if got := d.MustCapsa("run", "--rm", "dock:1", "sh", "-c", "cat /f; echo $A"); got != "live\nb" {
		t.Fatalf("run of docker's commit: got %q, want %q", got, "live\nb")
	}
	if got := d.MustCapsa("inspect", "--format", "{{.State.Status}}", "live"); got != "running" {
		t.Fatalf("container after commit: %q, want running", got)
	}
}

// TestImagesOptions: images -q, --filter (reference with a pattern, label,
// dangling, before, since) and --format give the right lines.
func TestImagesOptions(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "src", "busybox", "true")
	d.MustCapsa("commit", "-c", "LABEL team=blue", "src", "app/one:1")
	d.MustCapsa("commit", "src", "app/two:2")
	idOne := d.MustCapsa("images", "-q", "--no-trunc", "app/one:1")
	idTwo := d.MustCapsa("images", "-q", "--no-trunc", "app/two:2")
	idBusybox := d.MustCapsa("images", "-q", "--no-trunc", "busybox")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-q", "--no-trunc", "--filter", "reference=app/one"}, idOne},
		{[]string{"--filter", "reference=app/*", "--format", "{{.Repository}}:{{.Tag}}"}, "app/two:2\napp/one:1"},
		{[]string{"--filter", "reference=busybox", "--format", "{{.Repository}}:{{.Tag}}"}, "busybox:latest"},
		{[]string{"--filter", "label=team=blue", "--format", "{{.Repository}}"}, "app/one"},
		{[]string{"--filter", "dangling=true", "-q"}, ""},
		{[]string{"--filter", "since=app/one:1", "-q", "--no-trunc"}, idTwo},
		{[]string{"--filter", "before=app/one:1", "-q", "--no-trunc"}, idBusybox},
		{[]string{"-q"}, strings.Join([]string{idTwo[7:19], idOne[7:19], idBusybox[7:19]}, "\n")},
	}
	for _, tc := range cases {
		if got := d.MustCapsa(append([]string{"images"}, tc.args...)...); got != tc.want {
			t.Errorf("images %s: got %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if r := d.Capsa("images", "--filter", "colour=red"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'colour'") {
		t.Errorf("images with an unknown filter: %v", r)
	}
}
