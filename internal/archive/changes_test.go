package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (overlay mounts)")
	}
}

// overlayMount mounts an overlay of lowers (top-most first) with a fresh
// upper at a new directory and returns it and the upper; the mount is
// gone when the test ends.
func overlayMount(t *testing.T, lowers ...string) (merged, upper string) {
	t.Helper()
	needRoot(t)
	base := t.TempDir()
	upper, work, merged := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lowerdir := ""
	for i, l := range lowers {
		if i > 0 {
			lowerdir += ":"
		}
		lowerdir += l
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lowerdir, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
			unix.Unmount(merged, unix.MNT_DETACH)
		}
	})
	return merged, upper
}

func TestChanges(t *testing.T) {
	lower1, lower2 := t.TempDir(), t.TempDir()
	makeTree(t, lower1, []node{
		{path: "etc", mode: os.ModeDir | 0o755},
		{path: "etc/hostname", mode: 0o644, data: "box\n"},
		{path: "etc/shadow", mode: 0o600, data: "root:*:\n"},
		{path: "opt", mode: os.ModeDir | 0o755},
		{path: "opt/old1", mode: 0o644},
		{path: "opt/sub", mode: os.ModeDir | 0o755},
		{path: "opt/sub/old2", mode: 0o644},
		{path: "a", mode: os.ModeDir | 0o755},
		{path: "a/b", mode: os.ModeDir | 0o755},
		{path: "a/b/c", mode: os.ModeDir | 0o755},
		{path: "a/b/c/deep", mode: 0o644, data: "1"},
		{path: "bin", mode: os.ModeDir | 0o755},
		{path: "bin/sh", mode: 0o755, data: "#!"},
		{path: "bin/true", mode: 0o755, data: "#!"},
	})
	makeTree(t, lower2, []node{
		{path: "etc", mode: os.ModeDir | 0o755},
		{path: "etc/motd", mode: 0o644, data: "hi"},
		{path: "opt", mode: os.ModeDir | 0o755},
		{path: "opt/old3", mode: 0o644},
		// A hostile layer: a symlink where a directory is looked up.
		{path: "a-b", mode: os.ModeSymlink, data: "/"},
	})
	merged, upper := overlayMount(t, lower2, lower1)
	m := func(p string) string { return filepath.Join(merged, p) }
	steps := []func() error{
		func() error { return os.WriteFile(m("new"), []byte("n"), 0o644) },
		func() error { return os.MkdirAll(m("newdir/x/y"), 0o755) },
		func() error { return os.WriteFile(m("etc/hostname"), []byte("other\n"), 0o644) },
		func() error { return os.Remove(m("etc/shadow")) },
		func() error { return os.Remove(m("etc/motd")) }, // from the top lower
		// Replace a directory: overlayfs makes the new one opaque.
		func() error { return os.RemoveAll(m("opt")) },
		func() error { return os.Mkdir(m("opt"), 0o755) },
		func() error { return os.WriteFile(m("opt/fresh"), nil, 0o644) },
		func() error { return os.Mkdir(m("opt/sub"), 0o755) },
		// Nested: copy-up of a/b/c keeps their times, so only the file shows.
		func() error { return os.WriteFile(m("a/b/c/deep"), []byte("2"), 0o644) },
		// A deletion in a directory whose times are as before: it is
		// still listed, as the parent of a deletion.
		func() error { return os.Remove(m("bin/sh")) },
		func() error { return os.Chtimes(m("bin"), mtime, mtime) },
		// A symlink in upper to the host's root: never followed.
		func() error { return os.Symlink("/", m("evil")) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got, err := Changes(upper, []string{lower2, lower1})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{"/a/b/c/deep", ChangeModify},
		{"/bin", ChangeModify},
		{"/bin/sh", ChangeDelete},
		{"/etc", ChangeModify},
		{"/etc/hostname", ChangeModify},
		{"/etc/motd", ChangeDelete},
		{"/etc/shadow", ChangeDelete},
		{"/evil", ChangeAdd},
		{"/new", ChangeAdd},
		{"/newdir", ChangeAdd},
		{"/newdir/x", ChangeAdd},
		{"/newdir/x/y", ChangeAdd},
		{"/opt", ChangeModify},
		{"/opt/fresh", ChangeAdd},
		{"/opt/old1", ChangeDelete},
		{"/opt/old3", ChangeDelete},
		{"/opt/sub", ChangeAdd},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Changes:\n got %v\nwant %v", got, want)
	}
}

func TestChangesOrder(t *testing.T) {
	lower := t.TempDir()
	makeTree(t, lower, []node{{path: "a", mode: os.ModeDir | 0o755}})
	merged, upper := overlayMount(t, lower)
	for _, p := range []string{"a-b", "a/b", "a.c"} {
		if err := os.WriteFile(filepath.Join(merged, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Changes(upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	// Depth-first, as docker walks: "/a/b" before "/a-b".
	want := []Change{{"/a", ChangeModify}, {"/a/b", ChangeAdd}, {"/a-b", ChangeAdd}, {"/a.c", ChangeAdd}}
	if !slices.Equal(got, want) {
		t.Errorf("Changes:\n got %v\nwant %v", got, want)
	}
}

func TestChangesMissingUpper(t *testing.T) {
	if _, err := Changes(filepath.Join(t.TempDir(), "nope"), nil); err == nil {
		t.Error("Changes of a missing upper succeeded")
	}
}
