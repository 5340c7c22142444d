package rootfs

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Enter makes the prepared rootfs the root of the mount namespace and the
// process, with pivot_root(2), or for NoPivot with MS_MOVE + chroot. It
// ends with the cwd at "/".
func Enter(sys Syscalls, c *config.Config, opt Options) error {
	enter := pivotRoot
	if opt.NoPivot {
		enter = moveRoot
	}
	if _, ownNS := c.Has(config.NSMount); !ownNS {
		// In the caller's mount namespace, pivot_root would move the root
		// of every process there, and MS_MOVE would move the host's root
		// mount: chroot is the only way in that leaves the host alone.
		enter = chrootRoot
	}
	if err := enter(sys, c.Rootfs); err != nil {
		return err
	}
	// linux.rootfsPropagation applies to the container's root mount. A
	// shared root is a peer only of copies made inside the container:
	// "/" was made a slave of the host's first (Prepare), so nothing the
	// container mounts reaches the host.
	if p := c.RootPropagation; p != 0 {
		if err := sys.Mount("", "/", "", p, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: set / to %s: %w", flagString(p), err)
		}
	}
	return nil
}

func pivotRoot(sys Syscalls, rootfs string) error {
	open := func(p string) (int, error) {
		return sys.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC})
	}
	oldroot, err := open("/")
	if err != nil {
		return fmt.Errorf("open the old root: %w", err)
	}
	defer sys.Close(oldroot)
	newroot, err := open(rootfs)
	if err != nil {
		return fmt.Errorf("open rootfs %q: %w", rootfs, err)
	}
	defer sys.Close(newroot)
	if err := sys.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to rootfs %q: %w", rootfs, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// the same place, so no put_old directory has to exist in the rootfs
	// (which may be read-only) and nothing of the host stays reachable
	// by a path once it is unmounted.
	if err := sys.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %q: %w", rootfs, err)
	}
	// Our cwd is the new root, under the old one: go to the old root
	// (through its fd) to unmount it.
	if err := sys.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to the old root: %w", err)
	}
	// The old root may still share a peer group with the host (with an
	// rshared rootfsPropagation): make it a slave first, so that the
	// unmount below does not propagate and unmount the host's mounts.
	if err := sys.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make the old root rslave: %w", err)
	}
	if err := sys.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount the old root: %w", err)
	}
	if err := sys.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to the new root: %w", err)
	}
	return nil
}

// chrootRoot enters the rootfs with chroot alone, for a container that
// shares the caller's mount namespace.
func chrootRoot(sys Syscalls, rootfs string) error {
	if err := sys.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %q: %w", rootfs, err)
	}
	if err := sys.Chroot("."); err != nil {
		return fmt.Errorf("chroot into %q: %w", rootfs, err)
	}
	if err := sys.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to the new root: %w", err)
	}
	return nil
}

// moveRoot is --no-pivot: move the rootfs mount onto "/" and chroot into
// it, for roots where pivot_root is refused (an initramfs).
func moveRoot(sys Syscalls, rootfs string) error {
	// chroot leaves every host mount in the namespace, just out of
	// sight; detach those outside the rootfs so that nothing of the host
	// stays held by the container's namespace. Mounts the rootfs lives
	// on cannot go (they are busy), and children of a detached mount go
	// with it; both show as errors that are expected here.
	if b, err := sys.ReadFile("/proc/self/mountinfo"); err == nil {
		ms := parseMountInfo(b)
		sort.SliceStable(ms, func(i, j int) bool { return len(ms[i].Mountpoint) < len(ms[j].Mountpoint) })
		for _, m := range ms {
			if within(m.Mountpoint, rootfs) || within(rootfs, m.Mountpoint) {
				continue
			}
			if err := sys.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil &&
				!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("detach host mount %q: %w", m.Mountpoint, err)
			}
		}
	}
	if err := sys.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %q: %w", rootfs, err)
	}
	if err := sys.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs %q onto /: %w", rootfs, err)
	}
	if err := sys.Chroot("."); err != nil {
		return fmt.Errorf("chroot into %q: %w", rootfs, err)
	}
	if err := sys.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to the new root: %w", err)
	}
	return nil
}
