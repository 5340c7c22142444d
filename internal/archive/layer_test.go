package archive

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLayer: a file added, one changed, one deleted, a directory removed
// and made again (opaque) and a symlink pointing out of the tree, in a
// real overlay, give an OCI layer with .wh. entries and the symlink as a
// symlink.
func TestLayer(t *testing.T) {
	lower := t.TempDir()
	makeTree(t, lower, []node{
		{path: "etc", mode: os.ModeDir | 0o755},
		{path: "etc/hostname", mode: 0o644, data: "box\n"},
		{path: "gone", mode: 0o644, data: "x"},
		{path: "opt", mode: os.ModeDir | 0o755},
		{path: "opt/old", mode: 0o644, data: "old"},
	})
	merged, upper := overlayMount(t, lower)
	for _, step := range []func() error{
		func() error { return os.WriteFile(filepath.Join(merged, "new"), []byte("hello"), 0o644) },
		func() error { return os.WriteFile(filepath.Join(merged, "etc/hostname"), []byte("other\n"), 0o644) },
		func() error { return os.Remove(filepath.Join(merged, "gone")) },
		func() error { return os.RemoveAll(filepath.Join(merged, "opt")) },
		func() error { return os.Mkdir(filepath.Join(merged, "opt"), 0o755) },
		func() error { return os.WriteFile(filepath.Join(merged, "opt/fresh"), []byte("f"), 0o644) },
		func() error { return os.Symlink("/etc/passwd", filepath.Join(merged, "out")) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := Layer(context.Background(), upper)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	es := readTar(t, rc)
	// In name order: a whiteout sits where the deleted file was.
	want := []string{"etc/", "etc/hostname", ".wh.gone", "new", "opt/", "opt/.wh..wh..opq", "opt/fresh", "out"}
	if got := names(es); !slices.Equal(got, want) {
		t.Fatalf("entries: got %q, want %q", got, want)
	}
	byName := map[string]entry{}
	for _, e := range es {
		byName[e.name] = e
	}
	if e := byName["etc/hostname"]; e.data != "other\n" {
		t.Errorf("etc/hostname: got %q, want %q", e.data, "other\n")
	}
	if e := byName["out"]; e.typ != tar.TypeSymlink || e.linkname != "/etc/passwd" {
		t.Errorf("out: got type %c link %q, want a symlink to /etc/passwd", e.typ, e.linkname)
	}
	if e := byName[".wh.gone"]; e.typ != tar.TypeReg || e.data != "" {
		t.Errorf(".wh.gone: got type %c data %q, want an empty file", e.typ, e.data)
	}
}

func TestLayerMissingUpper(t *testing.T) {
	if _, err := Layer(context.Background(), filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("Layer of a missing directory: got no error")
	}
}
