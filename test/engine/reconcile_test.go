package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/snapshot"
	"github.com/capsa-dev/capsa/internal/snapshot/overlay"
)

// killShim SIGKILLs the shim of a running container and waits for it to go.
func killShim(t *testing.T, st engine.State) {
	t.Helper()
	if st.ShimPid <= 0 {
		t.Fatalf("no shim pid in %+v", st)
	}
	if err := unix.Kill(st.ShimPid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(st.ShimPid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("shim %d still there", st.ShimPid)
}

// A shim killed while the engine was down: with an exit record the
// container is exited with its code; without one, exited(255), and its
// runtime state (cgroup, processes) is gone either way.
func TestReopenShimGone(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	ended := v.run("ended", "sh", "-c", "sleep 0.5; exit 5")
	alive := v.run("alive", "sleep", "60")
	endedSt, aliveSt := v.status(ended.ID), v.status(alive.ID)
	if err := v.e.Close(); err != nil {
		t.Fatal(err)
	}
	v.e = nil
	time.Sleep(1500 * time.Millisecond) // ended exits; its shim records it
	killShim(t, endedSt)
	killShim(t, aliveSt)
	v.open()
	if st := v.status(ended.ID); st.Status != engine.StatusExited || st.ExitCode != 5 {
		t.Errorf("ended: got %+v, want exited(5)", st)
	}
	if st := v.status(alive.ID); st.Status != engine.StatusExited || st.ExitCode != 255 || st.Error == "" {
		t.Errorf("alive: got %+v, want exited(255) with an error", st)
	}
	for _, id := range []string{ended.ID, alive.ID} {
		if cgs, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/" + id); len(cgs) > 0 {
			t.Errorf("cgroups left: %q", cgs)
		}
	}
	if p := processWith("sleep 60"); p != "" {
		t.Errorf("container process left: %s", p)
	}
	for _, c := range []engine.Info{ended, alive} {
		if err := v.e.Remove(ctx, c.ID, false); err != nil {
			t.Errorf("remove %s: %v", c.Name, err)
		}
		v.assertGone(c.ID)
	}
}

// A running container's root mount that vanished while the engine was
// down is mounted again.
func TestReopenRemounts(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("mnt", "sleep", "60")
	if err := v.e.Close(); err != nil {
		t.Fatal(err)
	}
	v.e = nil
	if err := snapshot.UnmountAll(c.Rootfs); err != nil {
		t.Fatal(err)
	}
	if len(mountsUnder(c.Rootfs)) != 0 {
		t.Fatal("rootfs still mounted")
	}
	v.open()
	if len(mountsUnder(c.Rootfs)) == 0 {
		t.Errorf("rootfs not mounted again (status %+v)", v.status(c.ID))
	}
	if _, err := os.Stat(filepath.Join(c.Rootfs, "bin/busybox")); err != nil {
		t.Errorf("rootfs content: %v", err)
	}
	if st := v.status(c.ID); st.Status != engine.StatusRunning {
		t.Errorf("status: got %s, want running", st.Status)
	}
}

// What a crash in the middle of Create leaves (a snapshot, its mount,
// directories, no record) is removed by the next Open.
func TestReopenRemovesOrphans(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	ctx := context.Background()
	// A container unpacks the image; its layers stay after its removal.
	c, err := v.e.Create(ctx, engine.CreateOptions{Image: "busybox", Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.e.Remove(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := v.e.Close(); err != nil {
		t.Fatal(err)
	}
	v.e = nil
	id := strings.Repeat("ab", 32)
	sn, err := overlay.New(ctx, filepath.Join(v.cfg.DataRoot, "snapshots", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	var parent string
	err = sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindCommitted {
			parent = i.Name
		}
		return nil
	})
	if err != nil || parent == "" {
		sn.Close()
		t.Fatalf("no committed snapshot: %v", err)
	}
	ms, err := sn.Prepare(ctx, id, parent)
	sn.Close()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(v.cfg.RunRoot, "containers", id, "rootfs")
	for _, d := range []string{rootfs, filepath.Join(v.cfg.DataRoot, "containers", id)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := snapshot.MountAll(ms, rootfs); err != nil {
		t.Fatal(err)
	}
	v.open()
	v.assertGone(id)
}
