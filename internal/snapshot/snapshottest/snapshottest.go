// Package snapshottest is the conformance suite every snapshotter runs:
//
//	func TestConformance(t *testing.T) { snapshottest.Run(t, newMySnapshotter) }
//
// and, for the crash case, in the package's TestMain before m.Run:
//
//	snapshottest.MaybeCrashChild(newMySnapshotter)
//
// The suite mounts what the snapshotter returns (so it needs root), keeps
// every mount and directory inside the test's temporary directories, and
// unmounts in t.Cleanup even when a case fails.
package snapshottest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// Checker is what a snapshotter may implement to let the suite verify its
// storage after a crash (metadata and files agree, nothing orphaned).
type Checker interface {
	Check(ctx context.Context) error
}

// NewFunc opens a snapshotter rooted at root (creating it if empty).
type NewFunc func(ctx context.Context, root string) (snapshot.Snapshotter, error)

// Run runs the conformance suite against the snapshotters newSnapshotter
// makes.
func Run(t *testing.T, newSnapshotter NewFunc) {
	if os.Geteuid() != 0 {
		t.Skip("the snapshotter conformance suite mounts: run as root")
	}
	cases := []struct {
		name string
		fn   func(*testing.T, NewFunc)
	}{
		{"LayersAndWhiteouts", testLayersAndWhiteouts},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"Errors", testErrors},
		{"RemoveOrder", testRemoveOrder},
		{"StatWalkReopen", testStatWalkReopen},
		{"DeepChain", testDeepChain},
		{"Crash", testCrash},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newSnapshotter) })
	}
}

func open(t *testing.T, nf NewFunc, root string) snapshot.Snapshotter {
	t.Helper()
	s, err := nf(context.Background(), root)
	if err != nil {
		t.Fatalf("open snapshotter: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mount mounts ms on a new temporary directory and returns it with a
// function that unmounts it (also run at cleanup).
func mount(t *testing.T, ms []snapshot.Mount) (string, func()) {
	t.Helper()
	target := t.TempDir()
	if err := snapshot.MountAll(ms, target); err != nil {
		t.Fatalf("mount %+v: %v", ms, err)
	}
	unmount := func() {
		if err := snapshot.UnmountAll(target); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}
	t.Cleanup(unmount)
	return target, unmount
}

// ok and okInfo fail the test on an error, else pass on the value:
// ok(t)(s.Prepare(ctx, key, parent)).
func ok(t *testing.T) func([]snapshot.Mount, error) []snapshot.Mount {
	return func(ms []snapshot.Mount, err error) []snapshot.Mount {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
}

func okInfo(t *testing.T) func(snapshot.Info, error) snapshot.Info {
	return func(i snapshot.Info, err error) snapshot.Info {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFiles checks that each path in want has the given content ("" for a
// directory, "-" for absent).
func checkFiles(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for p, w := range want {
		full := filepath.Join(root, p)
		fi, err := os.Lstat(full)
		switch {
		case w == "-":
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: present (%v), want absent", p, err)
			}
		case err != nil:
			t.Errorf("%s: %v, want present", p, err)
		case w == "":
			if !fi.IsDir() {
				t.Errorf("%s: %v, want a directory", p, fi.Mode())
			}
		default:
			b, err := os.ReadFile(full)
			if err != nil || string(b) != w {
				t.Errorf("%s = %q, %v; want %q", p, b, err, w)
			}
		}
	}
}

// commitLayer prepares key on parent, lets fill write into it, unmounts
// and commits it as name.
func commitLayer(t *testing.T, s snapshot.Snapshotter, name, parent string, fill func(root string)) {
	t.Helper()
	ctx := context.Background()
	key := name + "-active"
	dir, unmount := mount(t, ok(t)(s.Prepare(ctx, key, parent)))
	fill(dir)
	unmount()
	if err := s.Commit(ctx, name, key); err != nil {
		t.Fatalf("Commit(%q, %q): %v", name, key, err)
	}
}

func testLayersAndWhiteouts(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	s := open(t, nf, t.TempDir())
	commitLayer(t, s, "base", "", func(r string) {
		writeFile(t, filepath.Join(r, "a"), "a0")
		writeFile(t, filepath.Join(r, "keep"), "k")
		os.MkdirAll(filepath.Join(r, "d"), 0o755)
		writeFile(t, filepath.Join(r, "d", "x"), "x")
		os.MkdirAll(filepath.Join(r, "e"), 0o755)
		writeFile(t, filepath.Join(r, "e", "old"), "o")
	})
	commitLayer(t, s, "child", "base", func(r string) {
		checkFiles(t, r, map[string]string{"a": "a0", "d/x": "x", "keep": "k"})
		if err := os.Remove(filepath.Join(r, "a")); err != nil { // a whiteout in the upper
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(r, "d", "y"), "y")
		writeFile(t, filepath.Join(r, "keep"), "k1") // copy-up
		// A directory removed and made again is opaque: its old entries stay gone.
		if err := os.RemoveAll(filepath.Join(r, "e")); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(r, "e"), 0o755)
		writeFile(t, filepath.Join(r, "e", "new"), "n")
	})
	want := map[string]string{"a": "-", "keep": "k1", "d": "", "d/x": "x", "d/y": "y", "e/old": "-", "e/new": "n"}
	v, _ := mount(t, ok(t)(s.View(ctx, "view", "child")))
	checkFiles(t, v, want)
	c, _ := mount(t, ok(t)(s.Prepare(ctx, "container", "child")))
	checkFiles(t, c, want)
	writeFile(t, filepath.Join(c, "a"), "again")
	checkFiles(t, c, map[string]string{"a": "again"})
	// The parent layers are untouched by the child's writes.
	b, _ := mount(t, ok(t)(s.View(ctx, "base-view", "base")))
	checkFiles(t, b, map[string]string{"a": "a0", "keep": "k", "d/y": "-", "e/old": "o", "e/new": "-"})
}

func testViewIsReadOnly(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	s := open(t, nf, t.TempDir())
	commitLayer(t, s, "l1", "", func(r string) { writeFile(t, filepath.Join(r, "f"), "1") })
	commitLayer(t, s, "l2", "l1", func(r string) { writeFile(t, filepath.Join(r, "g"), "2") })
	for _, parent := range []string{"", "l1", "l2"} {
		t.Run("parent="+parent, func(t *testing.T) {
			dir, _ := mount(t, ok(t)(s.View(ctx, "v-"+parent, parent)))
			err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o644)
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("write in a view = %v, want EROFS", err)
			}
			if info := okInfo(t)(s.Stat(ctx, "v-"+parent)); info.Kind != snapshot.KindView || info.Parent != parent {
				t.Errorf("Stat = %+v, want a view of %q", info, parent)
			}
		})
	}
	if err := s.Commit(ctx, "c", "v-l1"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Commit of a view = %v, want invalid", err)
	}
}

func testErrors(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	s := open(t, nf, t.TempDir())
	commitLayer(t, s, "done", "", func(string) {})
	ok(t)(s.Prepare(ctx, "active", ""))
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"prepare existing key", func() error { _, err := s.Prepare(ctx, "active", ""); return err }, errdefs.ErrAlreadyExists},
		{"prepare key of a committed", func() error { _, err := s.Prepare(ctx, "done", ""); return err }, errdefs.ErrAlreadyExists},
		{"prepare on a missing parent", func() error { _, err := s.Prepare(ctx, "x", "nope"); return err }, errdefs.ErrNotFound},
		{"prepare on an active parent", func() error { _, err := s.Prepare(ctx, "x", "active"); return err }, errdefs.ErrInvalid},
		{"view on an active parent", func() error { _, err := s.View(ctx, "x", "active"); return err }, errdefs.ErrInvalid},
		{"prepare empty key", func() error { _, err := s.Prepare(ctx, "", ""); return err }, errdefs.ErrInvalid},
		{"commit missing", func() error { return s.Commit(ctx, "n", "nope") }, errdefs.ErrNotFound},
		{"commit committed", func() error { return s.Commit(ctx, "n", "done") }, errdefs.ErrInvalid},
		{"commit over an existing name", func() error { return s.Commit(ctx, "done", "active") }, errdefs.ErrAlreadyExists},
		{"mounts of committed", func() error { _, err := s.Mounts(ctx, "done"); return err }, errdefs.ErrInvalid},
		{"mounts missing", func() error { _, err := s.Mounts(ctx, "nope"); return err }, errdefs.ErrNotFound},
		{"stat missing", func() error { _, err := s.Stat(ctx, "nope"); return err }, errdefs.ErrNotFound},
		{"remove missing", func() error { return s.Remove(ctx, "nope") }, errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Failed operations changed nothing.
	var n int
	s.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 2 {
		t.Errorf("%d snapshots after failed operations, want 2", n)
	}
}

func testRemoveOrder(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	s := open(t, nf, t.TempDir())
	commitLayer(t, s, "p", "", func(r string) { writeFile(t, filepath.Join(r, "f"), "p") })
	commitLayer(t, s, "c", "p", func(string) {})
	ok(t)(s.Prepare(ctx, "rw", "c"))
	ok(t)(s.View(ctx, "ro", "p"))
	for _, k := range []string{"p", "c"} {
		if err := s.Remove(ctx, k); !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("Remove(%q) with children = %v, want conflict", k, err)
		}
	}
	for _, k := range []string{"rw", "c", "ro", "p"} {
		if err := s.Remove(ctx, k); err != nil {
			t.Errorf("Remove(%q) = %v", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Stat(%q) after Remove = %v, want not found", k, err)
		}
	}
	// A removed key is free again.
	mount(t, ok(t)(s.Prepare(ctx, "p", "")))
}

func testStatWalkReopen(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, nf, root)
	before := time.Now().Add(-time.Second)
	commitLayer(t, s, "base", "", func(r string) { writeFile(t, filepath.Join(r, "f"), "base") })
	ok(t)(s.Prepare(ctx, "top", "base"))
	ok(t)(s.View(ctx, "look", "base"))
	want := map[string]snapshot.Info{
		"base": {Kind: snapshot.KindCommitted, Name: "base"},
		"look": {Kind: snapshot.KindView, Name: "look", Parent: "base"},
		"top":  {Kind: snapshot.KindActive, Name: "top", Parent: "base"},
	}
	check := func(s snapshot.Snapshotter) {
		t.Helper()
		var walked []string
		if err := s.Walk(ctx, func(i snapshot.Info) error {
			walked = append(walked, i.Name)
			if w := want[i.Name]; i.Kind != w.Kind || i.Parent != w.Parent || i.Created.Before(before) {
				t.Errorf("Walk: %+v, want %+v created after %v", i, w, before)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(walked) != "[base look top]" {
			t.Errorf("Walk = %v, want [base look top]", walked)
		}
		for k, w := range want {
			if i := okInfo(t)(s.Stat(ctx, k)); i.Kind != w.Kind || i.Name != w.Name || i.Parent != w.Parent {
				t.Errorf("Stat(%q) = %+v, want %+v", k, i, w)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, nf, root)
	check(s)
	dir, _ := mount(t, ok(t)(s.Mounts(ctx, "top")))
	checkFiles(t, dir, map[string]string{"f": "base"})
}

// testDeepChain stacks 100 layers: the overlay lowerdir list is then longer
// than the page mount(2) copies.
func testDeepChain(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	s := open(t, nf, t.TempDir())
	const n = 100
	parent := ""
	for i := range n {
		name := "layer" + strconv.Itoa(i)
		commitLayer(t, s, name, parent, func(r string) {
			writeFile(t, filepath.Join(r, "f"+strconv.Itoa(i)), strconv.Itoa(i))
			writeFile(t, filepath.Join(r, "top"), strconv.Itoa(i))
			if i > 0 {
				os.Remove(filepath.Join(r, "f"+strconv.Itoa(i-1)+"-gone"))
			}
			writeFile(t, filepath.Join(r, "f"+strconv.Itoa(i)+"-gone"), "g")
		})
		parent = name
	}
	want := map[string]string{"top": strconv.Itoa(n - 1), "f98-gone": "-", "f99-gone": "g"}
	for i := range n {
		want["f"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	c, _ := mount(t, ok(t)(s.Prepare(ctx, "container", parent)))
	checkFiles(t, c, want)
	v, _ := mount(t, ok(t)(s.View(ctx, "view", parent)))
	checkFiles(t, v, want)
}

const crashEnv = "CAPSA_SNAPSHOTTEST_CRASH_ROOT"

// MaybeCrashChild is for TestMain: in the child process that testCrash
// starts, it runs snapshot operations in a loop until killed and never
// returns; otherwise it returns at once.
func MaybeCrashChild(newSnapshotter NewFunc) {
	root := os.Getenv(crashEnv)
	if root == "" {
		return
	}
	ctx := context.Background()
	s, err := newSnapshotter(ctx, root)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	parent := ""
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%d-%d", os.Getpid(), i)
		name := key + "-c"
		steps := []func() error{
			func() error { _, err := s.Prepare(ctx, key, parent); return err },
			func() error { return s.Commit(ctx, name, key) },
			func() error { _, err := s.View(ctx, key+"-v", name); return err },
			func() error { return s.Remove(ctx, key+"-v") },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		}
		if i%3 == 2 && parent != "" {
			// Drop the newest layer now and then, so removes race the kill too.
			if err := s.Remove(ctx, name); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		} else {
			parent = name
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
}

// testCrash kills a process running snapshot operations with SIGKILL at
// random points, several times on one root: each time the snapshotter must
// open, its snapshots must be consistent (every parent committed and
// present, every active snapshot and view mountable) and new work must go
// on.
func testCrash(t *testing.T, nf NewFunc) {
	ctx := context.Background()
	root := t.TempDir()
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child said %q (does TestMain call MaybeCrashChild?)", round, line)
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		s, err := nf(ctx, root)
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		infos := map[string]snapshot.Info{}
		if err := s.Walk(ctx, func(i snapshot.Info) error { infos[i.Name] = i; return nil }); err != nil {
			t.Fatalf("round %d: walk after kill: %v", round, err)
		}
		if len(infos) == 0 {
			t.Errorf("round %d: no snapshots after the child's first round", round)
		}
		for name, i := range infos {
			if p, ok := infos[i.Parent]; i.Parent != "" && (!ok || p.Kind != snapshot.KindCommitted) {
				t.Errorf("round %d: %q has parent %q = %+v", round, name, i.Parent, p)
			}
			if i.Kind != snapshot.KindCommitted {
				ms, err := s.Mounts(ctx, name)
				if err != nil {
					t.Errorf("round %d: Mounts(%q): %v", round, name, err)
					continue
				}
				target := t.TempDir()
				if err := snapshot.MountAll(ms, target); err != nil {
					t.Errorf("round %d: mount %q: %v", round, name, err)
				}
				snapshot.UnmountAll(target)
			}
		}
		if c, ok := s.(Checker); ok {
			if err := c.Check(ctx); err != nil {
				t.Errorf("round %d: check after kill: %v", round, err)
			}
		}
		key := fmt.Sprintf("after-%d", round)
		if _, err := s.Prepare(ctx, key, ""); err != nil {
			t.Errorf("round %d: Prepare after kill: %v", round, err)
		} else if err := s.Commit(ctx, key+"-c", key); err != nil {
			t.Errorf("round %d: Commit after kill: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
