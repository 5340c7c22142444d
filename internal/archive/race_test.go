package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// swapper exchanges root/w/dir (a directory) and root/w/swap (a symlink
// that leads out of the root with "..", as a container process racing
// docker cp would) until stopped: CVE-2018-15664.
func swapper(t *testing.T) (base, root string, stop func()) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "root")
	for _, d := range []string{"root/w/dir", "outside"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		os.WriteFile(filepath.Join(root, "w/dir", fmt.Sprintf("inside-%d", i)), []byte("in"), 0o644)
	}
	os.WriteFile(filepath.Join(base, "outside", "secret"), []byte("host"), 0o600)
	if err := os.Symlink("../../outside", filepath.Join(root, "w/swap")); err != nil {
		t.Fatal(err)
	}
	w, err := os.Open(filepath.Join(root, "w"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			unix.Renameat2(int(w.Fd()), "dir", int(w.Fd()), "swap", unix.RENAME_EXCHANGE)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done); wg.Wait(); w.Close() })
	}
	t.Cleanup(stop)
	return base, root, stop
}

func TestCVE201815664CopyOut(t *testing.T) {
	_, root, stop := swapper(t)
	defer stop()
	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		rc, _, err := CopyOut(context.Background(), root, "/w/dir")
		if err != nil {
			continue // the path was mid-swap
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if strings.Contains(h.Name, "secret") {
				t.Fatalf("copy %d: archived %q from outside the root", n, h.Name)
			}
			if b, _ := io.ReadAll(tr); string(b) == "host" {
				t.Fatalf("copy %d: %q has the host's content", n, h.Name)
			}
		}
		rc.Close()
	}
}

func TestCVE201815664CopyIn(t *testing.T) {
	needRoot(t)
	base, root, stop := swapper(t)
	defer stop()
	var hdrs []*tar.Header
	for i := range 50 {
		hdrs = append(hdrs, file(fmt.Sprintf("dir/new-%d", i), "x"))
	}
	data := tarOf(t, hdrs...)
	deadline := time.Now().Add(time.Second)
	var refused int
	for time.Now().Before(deadline) {
		err := CopyIn(context.Background(), root, "/w", bytes.NewReader(data), CopyInOptions{})
		if errors.Is(err, unix.EXDEV) || strings.Contains(fmt.Sprint(err), "outside the destination") {
			refused++
		}
		// Also as the destination itself (resolved inside the root).
		CopyIn(context.Background(), root, "/w/swap", bytes.NewReader(tarOf(t, file("new", "x"))), CopyInOptions{})
	}
	stop()
	names, err := os.ReadDir(filepath.Join(base, "outside"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 {
		t.Fatalf("outside the root now holds %d files, want only secret: %v", len(names), names)
	}
	t.Logf("%d copies refused mid-swap", refused)
}
