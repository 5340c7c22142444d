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
