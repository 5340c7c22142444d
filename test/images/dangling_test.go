package images_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// dangling lists the full IDs of the dangling images.
func dangling(d *daemontest.Daemon) string {
	return d.MustCapsa("images", "-q", "--no-trunc", "-f", "dangling=true")
}

// TestDanglingImages: an image a tag moves away from, or one committed
// without a name, is kept as <none> <none> (docker's containerd store's
// moby-dangling@ records): it is listed, it runs, it survives garbage
// collection, tagging it names it again, and rmi by short ID and image
// prune remove it.
func TestDanglingImages(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	if got := dangling(d); got != "" {
		t.Fatalf("dangling images after an import: %q", got)
	}

	d.MustCapsa("run", "--name", "c1", "busybox", "sh", "-c", "echo one > /v")
	anon := d.MustCapsa("commit", "c1")
	if !strings.HasPrefix(anon, "sha256:") {
		t.Fatalf("commit without a name printed %q, want an image ID", anon)
	}
	if got := dangling(d); got != anon {
		t.Fatalf("dangling after commit without a name: got %q, want %q", got, anon)
	}
	rows := d.MustCapsa("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}")
	if want := "<none> <none> " + anon[7:19]; !strings.Contains(rows, want) {
		t.Fatalf("images: want a row %q, got\n%s", want, rows)
	}
	if got := d.MustCapsa("images", "-a", "-q"); got != d.MustCapsa("images", "-q") {
		t.Fatalf("images -a lists %q, images %q", got, d.MustCapsa("images", "-q"))
	}
	if got := d.MustCapsa("images", "-f", "dangling=false", "--format", "{{.Repository}}:{{.Tag}}"); got != "busybox:latest" {
		t.Fatalf("images -f dangling=false: %q", got)
	}

	// Tagging the dangling image names it: its dangling record goes.
	d.MustCapsa("tag", anon[7:19], "app:1")
	if got := dangling(d); got != "" {
		t.Fatalf("dangling after tagging it: %q", got)
	}

	// Commit onto the existing name: app:1 moves, the old image stays.
	d.MustCapsa("run", "--name", "c2", "app:1", "sh", "-c", "echo two > /v")
	second := d.MustCapsa("commit", "c2", "app:1")
	if got := dangling(d); got != anon {
		t.Fatalf("dangling after app:1 moved: got %q, want %q", got, anon)
	}
	// A tag moving from an image that keeps another name leaves nothing
	// dangling.
	d.MustCapsa("tag", "app:1", "app:2")
	d.MustCapsa("tag", "busybox", "app:1")
	if got := dangling(d); got != anon {
		t.Fatalf("dangling after app:1 moved off an image still named app:2: got %q, want %q", got, anon)
	}
	d.MustCapsa("tag", "busybox", "app:2")
	if got := dangling(d); !strings.Contains(got, anon) || !strings.Contains(got, second) {
		t.Fatalf("dangling after app:2 moved: got %q, want %s and %s", got, anon, second)
	}

	// Garbage collection keeps them: remove a named image (which collects)
	// and run the dangling ones.
	d.MustCapsa("rm", "c1", "c2")
	d.MustCapsa("tag", "busybox", "gone:1")
	d.MustCapsa("rmi", "gone:1")
	if got := d.MustCapsa("run", "--rm", anon[7:19], "cat", "/v"); got != "one" {
		t.Fatalf("run of the dangling image %s: %q", anon, got)
	}

	// rmi by short ID removes a dangling image.
	r := d.Capsa("rmi", second[7:19])
	if r.Code != 0 || r.Stdout != "Deleted: "+second+"\n" {
		t.Fatalf("rmi %s: %v", second[7:19], r)
	}
	if got := dangling(d); got != anon {
		t.Fatalf("dangling after rmi: got %q, want %q", got, anon)
	}

	// image prune spares a used dangling image, then removes it.
	d.MustCapsa("create", "--name", "user", anon)
	if out := d.MustCapsa("image", "prune", "-f"); strings.Contains(out, anon) {
		t.Fatalf("image prune removed an image a container uses:\n%s", out)
	}
	d.MustCapsa("rm", "user")
	if out := d.MustCapsa("image", "prune", "-f"); !strings.Contains(out, "deleted: "+anon) {
		t.Fatalf("image prune: %q", out)
	}
	if got := dangling(d); got != "" {
		t.Fatalf("dangling after prune: %q", got)
	}
	if got := d.MustCapsa("images", "--format", "{{.Repository}}:{{.Tag}}"); got != "app:1\napp:2\nbusybox:latest" {
		t.Fatalf("images after prune: %q", got)
	}
}

// TestDanglingLoad: an archive entry without a name (save by ID) loads
// as a dangling image; loading a name onto another image keeps that one.
func TestDanglingLoad(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "--name", "cx", "busybox", "sh", "-c", "echo x > /x")
	id := d.MustCapsa("commit", "cx", "x:1")
	d.MustCapsa("rm", "cx")
	archive := filepath.Join(t.TempDir(), "x.tar")
	d.MustCapsa("save", "-o", archive, id)
	d.MustCapsa("rmi", "x:1")
	if got := d.MustCapsa("load", "-i", archive); got != "Loaded image ID: "+id {
		t.Fatalf("load of an unnamed archive: %q", got)
	}
	if got := dangling(d); got != id {
		t.Fatalf("dangling after load: got %q, want %q", got, id)
	}

	// busybox moves to the loaded image by load of a named archive: the
	// imported busybox is kept, dangling.
	old := d.MustCapsa("images", "-q", "--no-trunc", "busybox")
	d.MustCapsa("tag", id, "busybox")
	named := filepath.Join(t.TempDir(), "bb.tar")
	d.MustCapsa("save", "-o", named, "busybox")
	d.MustCapsa("tag", old, "busybox")
	if got := dangling(d); got != id {
		t.Fatalf("dangling after busybox moved back: got %q, want %q", got, id)
	}
	if got := d.MustCapsa("load", "-i", named); got != "Loaded image: busybox:latest" {
		t.Fatalf("load: %q", got)
	}
	if got := dangling(d); got != old {
		t.Fatalf("dangling after load moved busybox: got %q, want %q", got, old)
	}
	if _, err := os.Stat(archive); err != nil {
		t.Fatal(err)
	}

	// The Docker API at 1.41 (Debian's docker CLI) shows the <none>
	// placeholders dockerd gave before 1.43, and the docker CLI reads them.
	r := d.Docker("images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}} {{.ID}}")
	if r.Code != 0 || r.Stdout != "<none> <none> "+old[7:19]+"\n" {
		t.Fatalf("docker images -f dangling=true: %v", r)
	}
}
