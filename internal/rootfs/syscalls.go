package rootfs

import (
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Syscalls is the seam between the rootfs planner and the kernel. The
// planner only reaches the kernel through it, so that unit tests can run the
// whole plan against a recording fake, without root; Real() is the kernel.
//
// Paths given to the path-taking calls are host paths, or
// "/proc/self/fd/N" magic links to an fd the planner resolved safely
// inside the root. The methods have the semantics of the system calls they
// are named after.
type Syscalls interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	PivotRoot(newroot, putold string) error
	Chdir(path string) error
	Fchdir(fd int) error
	Chroot(path string) error

	Openat2(dirfd int, path string, how *unix.OpenHow) (int, error)
	Close(fd int) error
	Fstat(fd int, st *unix.Stat_t) error
	Statfs(path string, st *unix.Statfs_t) error
	Mkdirat(dirfd int, path string, mode uint32) error
	Mknodat(dirfd int, path string, mode uint32, dev uint64) error
	Fchownat(dirfd int, path string, uid, gid int, flags int) error
	Symlinkat(target string, dirfd int, linkpath string) error
	Readlinkat(dirfd int, path string) (string, error)
	Unlinkat(dirfd int, path string, flags int) error
	Umask(mask int) int

	// The fd-based mount API (Linux 5.2, mount_setattr 5.12).
	OpenTree(dirfd int, path string, flags uint) (int, error)
	MoveMount(fromDirfd int, fromPath string, toDirfd int, toPath string, flags int) error
	MountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr) error
	Fsopen(fsname string, flags int) (int, error)
	FsconfigCreate(fd int) error
	Fsmount(fd int, flags int, attrs int) (int, error)

	// ReadFile reads a host file the planner needs to look at
	// (/proc/self/mountinfo, /proc/self/cgroup).
	ReadFile(path string) ([]byte, error)
	// UsernsFd returns an fd of a new user namespace with the given
	// mappings, for MOUNT_ATTR_IDMAP.
	UsernsFd(uids, gids []config.IDMap) (int, error)
}
