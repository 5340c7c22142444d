package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
	"github.com/capsa-dev/capsa/internal/snapshot/snapshottest"
)

func newSnapshotter(ctx context.Context, root string) (snapshot.Snapshotter, error) {
	return New(ctx, root)
}

func TestMain(m *testing.M) {
	snapshottest.MaybeCrashChild(newSnapshotter)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	snapshottest.Run(t, newSnapshotter)
}

// TestMountShapes pins which mount each kind of snapshot gets.
func TestMountShapes(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	o, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fs := func(id string) string { return filepath.Join(root, "snapshots", id, "fs") }
	step := func(ms []snapshot.Mount, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(ms)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"active, no parent", step(o.Prepare(ctx, "a", "")), fmt.Sprint([]snapshot.Mount{{Type: "bind", Source: fs("1"), Options: []string{"rbind", "rw"}}})},
		{"view, no parent", step(o.View(ctx, "v0", "")), fmt.Sprint([]snapshot.Mount{{Type: "bind", Source: fs("2"), Options: []string{"rbind", "ro"}}})},
	}
	if err := o.Commit(ctx, "l1", "a"); err != nil {
		t.Fatal(err)
	}
	tests = append(tests,
		struct{ name, got, want string }{"view, one parent", step(o.View(ctx, "v1", "l1")),
			fmt.Sprint([]snapshot.Mount{{Type: "bind", Source: fs("1"), Options: []string{"rbind", "ro"}}})},
		struct{ name, got, want string }{"active, one parent", step(o.Prepare(ctx, "b", "l1")),
			fmt.Sprint([]snapshot.Mount{{Type: "overlay", Source: "overlay", Options: withIndexOff([]string{"lowerdir=" + fs("1"), "upperdir=" + fs("4"), "workdir=" + filepath.Join(root, "snapshots", "4", "work")})}})},
	)
	if err := o.Commit(ctx, "l2", "b"); err != nil {
		t.Fatal(err)
	}
	tests = append(tests,
		struct{ name, got, want string }{"view, two parents", step(o.View(ctx, "v2", "l2")),
			fmt.Sprint([]snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + fs("4") + ":" + fs("1")}}})},
	)
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func withIndexOff(opts []string) []string {
	if indexOptionSupported() {
		return append(opts, "index=off")
	}
	return opts
}

// TestOrphanDirsRemoved: a directory that no record names (a create whose
// transaction never committed, a remove killed before its rmdir) is
// removed when the snapshotter opens; named ones stay.
func TestOrphanDirsRemoved(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	o, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "kept", ""); err != nil {
		t.Fatal(err)
	}
	o.Close()
	orphan := filepath.Join(root, "snapshots", "77", "fs")
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err = New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := os.Stat(filepath.Dir(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan dir after New: %v, want removed", err)
	}
	dir, err := o.Dir(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("kept snapshot's dir: %v", err)
	}
}

// TestSecondOpenRefused: one process per root (bbolt's flock).
func TestSecondOpenRefused(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	o, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o2, err := New(ctx, root); !errors.Is(err, errdefs.ErrUnavailable) {
		if o2 != nil {
			o2.Close()
		}
		t.Errorf("second New = %v, want unavailable", err)
	}
}

// TestCommitOnto: a layer prepared without parent and committed onto one
// is a child of it (views of it see the parent's layer below its own),
// and what CommitOnto refuses.
func TestCommitOnto(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	o, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fs := func(id string) string { return filepath.Join(root, "snapshots", id, "fs") }
	if _, err := o.Prepare(ctx, "base-x", ""); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(ctx, "base", "base-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "top-x", ""); err != nil { // id 2, made apart
		t.Fatal(err)
	}
	if err := o.CommitOnto(ctx, "top", "top-x", "base"); err != nil {
		t.Fatal(err)
	}
	info, err := o.Stat(ctx, "top")
	if err != nil || info.Kind != snapshot.KindCommitted || info.Parent != "base" {
		t.Fatalf("top: %+v, %v; want committed on base", info, err)
	}
	ms, err := o.View(ctx, "v", "top")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + fs("2") + ":" + fs("1")}}})
	if got := fmt.Sprint(ms); got != want {
		t.Fatalf("view of top: %s, want %s", got, want)
	}
	if err := o.Remove(ctx, "base"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("remove base under top: %v, want a conflict", err)
	}

	if _, err := o.Prepare(ctx, "on-base", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "loose", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, parent string
		want              error
	}{
		{"x", "on-base", "base", errdefs.ErrInvalid}, // has a parent already
		{"x", "top", "base", errdefs.ErrInvalid},     // committed
		{"x", "nothing", "base", errdefs.ErrNotFound},
		{"x", "loose", "nothing", errdefs.ErrNotFound},
		{"x", "loose", "on-base", errdefs.ErrInvalid}, // parent not committed
		{"top", "loose", "base", errdefs.ErrAlreadyExists},
	} {
		if err := o.CommitOnto(ctx, tc.name, tc.key, tc.parent); !errors.Is(err, tc.want) {
			t.Errorf("CommitOnto(%q, %q, %q) = %v, want %v", tc.name, tc.key, tc.parent, err, tc.want)
		}
	}
	// A refused CommitOnto leaves the snapshot as it was.
	if info, err := o.Stat(ctx, "loose"); err != nil || info.Kind != snapshot.KindActive {
		t.Fatalf("loose after refusals: %+v, %v", info, err)
	}
}
