package image

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrivateThreadSparesMainThread: the work of onPrivateThread never runs
// on the main thread, whose mount namespace is the one /proc/self shows
// (a flaky "rootfs not mounted again" in the engine's reconcile test was
// an unpack's namespace left on the parked main thread).
func TestPrivateThreadSparesMainThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare: run as root")
	}
	before, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		err := onPrivateThread(func() error {
			if unix.Gettid() == unix.Getpid() {
				return errors.New("ran on the main thread")
			}
			return unix.Unshare(unix.CLONE_NEWNS)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := os.Readlink("/proc/self/ns/mnt"); after != before {
		t.Fatalf("the main thread's mount namespace changed: %s -> %s", before, after)
	}
	if self, _ := os.Readlink("/proc/thread-self/ns/mnt"); self != before {
		t.Fatalf("this thread's mount namespace changed: %s -> %s", before, self)
	}
}
