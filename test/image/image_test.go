// Package image_test takes a busybox root filesystem through the whole
// image path: a tar imported as a one-layer OCI image into a content store,
// recorded by name, unpacked into an overlay snapshot, and two containers'
// writable snapshots prepared on it that run busybox (chrooted) and do not
// see each other's writes.
package image_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/snapshot"
	"github.com/capsa-dev/capsa/internal/snapshot/overlay"
)

// busyboxTar is a root filesystem tar: busybox-static and a few applets.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	return busyboxtest.Tar(t, "sh", "cat", "echo", "rm", "ls", "head")
}

// run runs a busybox shell command chrooted into root.
func run(t *testing.T, root, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %q: %v: %s", root, script, err, out)
	}
	return string(out)
}

func TestBusyboxImageTwoContainers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts snapshots and chroots: run as root")
	}
	ctx := context.Background()
	base := t.TempDir()
	t.Setenv("TMPDIR", t.TempDir())
	cs, err := content.Open(filepath.Join(base, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := overlay.New(ctx, filepath.Join(base, "snapshots", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	images, err := image.OpenStore(filepath.Join(base, "images.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { images.Close() })

	desc, err := image.ImportRootfs(ctx, cs, bytes.NewReader(busyboxTar(t)), image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := images.Put(ctx, "busybox:latest", desc); err != nil {
		t.Fatal(err)
	}
	rec, err := images.Get(ctx, "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Load(ctx, cs, rec.Target)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := image.Unpack(ctx, img, sn, image.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}

	roots := map[string]string{}
	for _, c := range []string{"web", "db"} {
		ms, err := sn.Prepare(ctx, "container-"+c, chain.String())
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		if err := snapshot.MountAll(ms, root); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { snapshot.UnmountAll(root) })
		roots[c] = root
	}
	run(t, roots["web"], "echo web > /tmp/who && rm /bin/cat")
	run(t, roots["db"], "echo db > /tmp/who")
	if got := run(t, roots["web"], "ls /bin/cat 2>&1; echo; busybox cat /tmp/who"); got != "ls: /bin/cat: No such file or directory\n\nweb\n" {
		t.Errorf("web sees %q", got)
	}
	if got := run(t, roots["db"], "cat /tmp/who; head -n 1 /etc/passwd"); got != "db\nroot:x:0:0:root:/root:/bin/sh\n" {
		t.Errorf("db sees %q", got)
	}

	// The image layer is untouched; removing it waits for its containers.
	if err := sn.Remove(ctx, chain.String()); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Remove of the image snapshot under containers = %v, want conflict", err)
	}
	for c, root := range roots {
		if err := snapshot.UnmountAll(root); err != nil {
			t.Fatal(err)
		}
		if err := sn.Remove(ctx, "container-"+c); err != nil {
			t.Fatal(err)
		}
	}
	v, err := sn.View(ctx, "check", chain.String())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := snapshot.MountAll(v, root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshot.UnmountAll(root) })
	if _, err := os.Lstat(filepath.Join(root, "bin/cat")); err != nil {
		t.Errorf("image's bin/cat: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "tmp/who")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("image's tmp/who: %v, want absent", err)
	}
}
