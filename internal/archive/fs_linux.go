package archive

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/openat2"
)

// inRoot resolves like a chroot into the directory fd: absolute symlinks
// and ".." stop at it. beneath refuses to leave the directory at all
// (EXDEV), which is what a copy's destination needs.
const (
	inRoot  = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS
)

// Openat2 opens name relative to dirFd with the resolve flags (and
// O_CLOEXEC), retrying when a concurrent rename or mount anywhere made
// the kernel give up (EAGAIN), as openat2(2) asks of its callers.
func Openat2(dirFd int, name string, flags int, resolve uint64) (int, error) {
	if name == "" {
		name = "."
	}
	return openat2.Open(dirFd, name, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve})
}

// openDir opens the host directory dir (one the daemon owns: the rootfs
// mount, an upper or lower dir) as an O_PATH fd.
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %q: %w", dir, err)
	}
	return fd, nil
}

// procFd names the open file fd by its magic link in /proc: opening it
// reaches exactly the inode of fd, whatever happened to its path since.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// fdPath is the path the kernel currently gives the file fd.
func fdPath(fd int) (string, error) {
	return os.Readlink(procFd(fd))
}

// reopen opens the file that the O_PATH fd refers to for real I/O. Only
// call it on regular files and directories: opening a device or a fifo
// that the container made can block or have side effects on the host.
func reopen(fd int, flags int) (int, error) {
	return unix.Open(procFd(fd), flags|unix.O_CLOEXEC, 0)
}

// fileMode converts a stat mode to Go's os.FileMode, as os.Lstat does and
// as docker's path stat header encodes it.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func isDir(st *unix.Stat_t) bool     { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
func isSymlink(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFLNK }

// readDirNames lists the directory fd (O_PATH is fine), sorted. The list
// is a snapshot: a running container may change the directory meanwhile,
// so callers treat a name that is gone by the time they open it as skipped.
func readDirNames(dirFd int) ([]string, error) {
	fd, err := unix.Openat(dirFd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), "dir")
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// categorized is an error that reads as err but also matches a category of
// internal/errdefs (a read-only file system is ErrPermission, and still
// EROFS).
type categorized struct {
	err error
	cat error
}

func (e *categorized) Error() string   { return e.err.Error() }
func (e *categorized) Unwrap() []error { return []error{e.err, e.cat} }

// rel turns a cleaned absolute container path into one relative to the
// root ("." for the root).
func rel(abs string) string {
	r := strings.Trim(abs, "/")
	if r == "" {
		return "."
	}
	return r
}
