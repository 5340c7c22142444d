package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"data", true}, {"a1", true}, {"my_vol.1-x", true},
		{"a", false}, {"", false}, {"_x", false}, {".x", false}, {"a/b", false},
		{"../up", false}, {"a:b", false}, {"a b", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ValidateName(%q): %v is not invalid", tc.name, err)
		}
	}
}

func TestStore(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := s.Create(CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if v.Mountpoint != filepath.Join(root, "data", "_data") || v.Driver != "local" || v.CreatedAt.IsZero() {
		t.Errorf("create: got %+v", v)
	}
	if _, created, err := s.Create(CreateOptions{Name: "data"}); err != nil || created {
		t.Errorf("create again: created %v, %v; want the existing one", created, err)
	}
	anon, _, err := s.Acquire("c1", CreateOptions{Labels: map[string]string{LabelAnonymous: ""}})
	if err != nil || len(anon.Name) != 64 || !anon.Anonymous() {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
	if err := s.Ref("data", "c2"); err != nil {
		t.Fatal(err)
	}
	err = s.Remove("data", true)
	if !errors.Is(err, errdefs.ErrConflict) || err.Error() != "remove data: volume is in use - [c2]" {
		t.Errorf("remove in use: %v", err)
	}
	s.Unref("data", "c2")

	// What a later Open sees: the same volumes.
	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get("data")
	if err != nil || got.Labels["a"] != "b" || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Errorf("reopen: %+v %v", got, err)
	}
	if len(s2.List()) != 2 {
		t.Errorf("reopen: %d volumes, want 2", len(s2.List()))
	}
	// Prune keeps the named one unless told.
	names, _, err := s2.Prune(func(v Volume) bool { return !v.Anonymous() })
	if err != nil || len(names) != 1 || names[0] != anon.Name {
		t.Errorf("prune: %q %v", names, err)
	}
	if err := s2.Remove("data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get("data"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get removed: %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("left in root: %v", ents)
	}
}

// TestOpenCrashLeftovers: a kill at any point of a create or remove
// leaves a store that opens, without the half-made volume.
func TestOpenCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	// Created up to _data, killed before the metadata's rename.
	must(t, os.MkdirAll(filepath.Join(root, "half", "_data"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "half", ".volume.json.tmp123"), []byte(`{"na`), 0o600))
	// Renamed aside for removal, killed before RemoveAll ended.
	must(t, os.MkdirAll(filepath.Join(root, ".removing-gone", "_data", "x"), 0o755))
	// A whole one.
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(CreateOptions{Name: "whole"}); err != nil {
		t.Fatal(err)
	}
	s, err = Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 1 || l[0].Name != "whole" {
		t.Errorf("volumes: %+v", l)
	}
	for _, p := range []string{"half", ".removing-gone"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	// Torn metadata is an error naming the volume, not a silent loss.
	must(t, os.WriteFile(filepath.Join(root, "whole", metaFile), []byte(`{"na`), 0o600))
	if _, err := Open(root); err == nil {
		t.Error("open with torn metadata: no error")
	}
}

// TestCopyUp: the image's content is copied with its symlinks as
// symlinks, and a symlink in the image that leads out of the root is
// resolved inside it, never followed to the host.
func TestCopyUp(t *testing.T) {
	ctx := context.Background()
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o600))
	rootfs := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(rootfs, "data", "sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(rootfs, "data", "sub", "f"), []byte("image"), 0o640))
	must(t, os.Symlink(host, filepath.Join(rootfs, "data", "out")))
	// /link points, as the container sees it, at /data; on the host the
	// absolute target would be the host's /data.
	must(t, os.Symlink("/../../data", filepath.Join(rootfs, "link")))
	// /escape points at the host directory; inside the root it is missing.
	must(t, os.Symlink(host, filepath.Join(rootfs, "escape")))

	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	newVol := func(name string) Volume {
		v, _, err := s.Create(CreateOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := newVol("v1")
	must(t, CopyUp(ctx, rootfs, "/data", v))
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "sub", "f")); err != nil || string(b) != "image" {
		t.Errorf("copied file: %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(v.Mountpoint, "out")); err != nil || l != host {
		t.Errorf("symlink: %q %v, want a link to %s", l, err, host)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("volume root mode: %v %v, want 0750", fi.Mode(), err)
	}
	v2 := newVol("v2")
	must(t, CopyUp(ctx, rootfs, "/link", v2))
	if _, err := os.Stat(filepath.Join(v2.Mountpoint, "sub", "f")); err != nil {
		t.Errorf("copy through in-root link: %v", err)
	}
	v3 := newVol("v3")
	must(t, CopyUp(ctx, rootfs, "/escape", v3))
	if ents, _ := os.ReadDir(v3.Mountpoint); len(ents) != 0 {
		t.Errorf("copy through a link out of the root copied %v from the host", ents)
	}
	// A volume with content is left alone.
	must(t, os.WriteFile(filepath.Join(v3.Mountpoint, "mine"), nil, 0o600))
	must(t, CopyUp(ctx, rootfs, "/data", v3))
	if ents, _ := os.ReadDir(v3.Mountpoint); len(ents) != 1 {
		t.Errorf("copy into a used volume: %v", ents)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
