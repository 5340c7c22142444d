// Package rootfs sets up a container's root filesystem from inside the
// container's new mount namespace: the work capsa-runtime's init does
// between clone and exec.
//
// It runs in three steps, in this order, around the createContainer hooks:
//
//	Prepare   propagation of / (rslave unless configured), the rootfs bound
//	          onto itself, every config mount, /dev (devices, pts, ptmx,
//	          symlinks, console), linux.devices
//	Enter     pivot_root into the rootfs (or MS_MOVE + chroot), cwd "/"
//	Finalize  readonlyPaths, maskedPaths, then a read-only root
//
// Every path inside the container is resolved with openat2(RESOLVE_IN_ROOT)
// from an fd on the root, missing parents are made one directory at a time
// through fds, and mounts land on the resolved fd (mount(2) through
// /proc/self/fd/N, or move_mount(2) on the fd), so a symlink in the rootfs,
// or one swapped in by a racing process, cannot send a mount to the host
// (CVE-2021-30465). Masking binds only a /dev/null that fstat shows to be
// the character device 1:3 (CVE-2025-31133).
//
// The kernel is reached only through the Syscalls seam; unit tests run the
// planner against a recording fake and compare the operations it made.
package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Options are the runtime's choices that config.json does not carry.
type Options struct {
	// NoPivot enters the root with MS_MOVE + chroot instead of pivot_root
	// (--no-pivot; for roots on ramfs, where pivot_root is refused).
	NoPivot bool
	// ConsolePath, if set, is the pty slave bound onto /dev/console.
	ConsolePath string
	// InUserNS says the init runs in a user namespace that is not the
	// host's: mknod is refused there, so devices are bind mounts of the
	// host's nodes, and sysfs/mqueue fall back to binds of the host's.
	// Detected from the config (a user namespace entry) when false.
	InUserNS bool
	// CgroupNS says the init is in its own cgroup namespace, so cgroup
	// filesystems can be mounted fresh. Detected from the config when
	// false.
	CgroupNS bool
}

func (o Options) withConfig(c *config.Config) Options {
	if _, ok := c.Has(config.NSUser); ok {
		o.InUserNS = true
	}
	if _, ok := c.Has(config.NSCgroup); ok {
		o.CgroupNS = true
	}
	return o
}

// flagNames spells MS_* flags in errors and test output.
var flagNames = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"}, {unix.MS_DIRSYNC, "MS_DIRSYNC"}, {unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"}, {unix.MS_BIND, "MS_BIND"}, {unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"}, {unix.MS_SILENT, "MS_SILENT"}, {unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"}, {unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"}, {unix.MS_I_VERSION, "MS_I_VERSION"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"}, {unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

func flagString(f uintptr) string {
	var parts []string
	for _, n := range flagNames {
		if f&n.flag != 0 {
			parts = append(parts, n.name)
			f &^= n.flag
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", f))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}
