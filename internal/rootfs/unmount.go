package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// A container without a mount namespace of its own shares the caller's:
// what init mounts there (the rootfs bound onto itself, and every mount
// under that bind) stays after the container is gone, unless the runtime
// takes it down. TopMount, before the container is made, and Unmount, when
// it is deleted, do that, and touch no mount that was there before.

// TopMount returns the ID of the topmost mount at path p in the caller's
// mount namespace, or 0 if p is not a mount point.
func TopMount(p string) (int, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("read mountinfo: %w", err)
	}
	return topMount(parseMountInfo(b), p), nil
}

// topMount finds, among the mounts at p, the one no other mount at p is
// stacked on.
func topMount(ms []mountInfo, p string) int {
	under := map[int]bool{}
	var at []mountInfo
	for _, m := range ms {
		if m.Mountpoint == p {
			at = append(at, m)
			under[m.Parent] = true
		}
	}
	for _, m := range at {
		if !under[m.ID] {
			return m.ID
		}
	}
	return 0
}

// Unmount detaches, for a container without its own mount namespace, the
// mounts stacked at c.Rootfs above the mount before (TopMount's answer
// before the container was made) and with them everything mounted below
// them. A container with its own mount namespace has nothing here.
func Unmount(c *config.Config, before int) error {
	if _, ownNS := c.Has(config.NSMount); ownNS || c.Rootfs == "/" {
		return nil
	}
	for i := 0; i < 16; i++ {
		top, err := TopMount(c.Rootfs)
		if err != nil {
			return err
		}
		if top == 0 || top == before {
			return nil
		}
		// MNT_DETACH takes the whole subtree under the top mount.
		if err := unix.Unmount(c.Rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount the container's mounts at %q: %w", c.Rootfs, err)
		}
	}
	return fmt.Errorf("unmount the container's mounts at %q: still mounted", c.Rootfs)
}
