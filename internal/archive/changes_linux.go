package archive

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Kinds of Change, with docker's numbers (GET /containers/{id}/changes).
const (
	ChangeModify = 0
	ChangeAdd    = 1
	ChangeDelete = 2
)

// Change is one entry of docker diff: an absolute path in the container
// and what happened to it.
type Change struct {
	Path string `json:"Path"`
	Kind int    `json:"Kind"`
}

// Changes lists what the container changed in its root filesystem, given
// the overlay's upper dir (the container's writable layer) and its lower
// dirs (the image's layers, top-most first as in lowerdir=), the way
// docker's overlay2 driver does:
//
//   - a file in upper that no lower has is added, one that a lower has is
//     modified; a directory present in both is only listed when its size,
//     mode or mtime differ, or as the parent of an addition or deletion;
//   - a whiteout (a 0/0 character device) is a deletion;
//   - the parent of an addition or a deletion is listed as modified
//     (unless it is "/");
//   - an opaque directory (trusted.overlay.opaque=y) that a lower has was
//     emptied and refilled: it is modified, everything below it in upper
//     is added, and what the lowers had in it and upper has not is
//     deleted. (docker reports the directory itself as deleted and says
//     nothing of its old contents; listing them is what a diff of the two
//     trees gives, and what docker diff's reader expects.)
//
// The result is in docker's walk order: sorted by path, component by
// component. The container may be running: upper is walked through
// O_NOFOLLOW fds and lowers are looked up with openat2, so no symlink in
// either is ever followed.
func Changes(upper string, lowers []string) ([]Change, error) {
	c := &differ{changedDirs: map[string]bool{}}
	ufd, err := openDir(upper)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ufd)
	for _, l := range lowers {
		fd, err := openDir(l)
		if err != nil {
			c.close()
			return nil, err
		}
		c.lowers = append(c.lowers, fd)
	}
	defer c.close()
	if err := c.walk(ufd, "/", false); err != nil {
		return nil, fmt.Errorf("changes of %q: %w", upper, err)
	}
	slices.SortStableFunc(c.changes, func(a, b Change) int { return comparePaths(a.Path, b.Path) })
	return c.changes, nil
}

// comparePaths orders paths component by component ("/a", "/a/b",
// "/a-b"), the order of a depth-first walk.
func comparePaths(a, b string) int {
	return strings.Compare(strings.ReplaceAll(a, "/", "\x00"), strings.ReplaceAll(b, "/", "\x00"))
}

type differ struct {
	lowers      []int // O_PATH fds, top-most first
	changes     []Change
	changedDirs map[string]bool
}

func (c *differ) close() {
	for _, fd := range c.lowers {
		unix.Close(fd)
	}
	c.lowers = nil
}

func (c *differ) record(p string, kind int) {
	if kind == ChangeAdd || kind == ChangeDelete {
		if parent := path.Dir(p); parent != "/" && !c.changedDirs[parent] {
			c.changes = append(c.changes, Change{Path: parent, Kind: ChangeModify})
			c.changedDirs[parent] = true
		}
	}
	c.changes = append(c.changes, Change{Path: p, Kind: kind})
}

// walk diffs the entries of the upper directory dirFd, at container path
// dir. hidden is true below an opaque directory: there the lowers do not
// show through, so everything is new.
func (c *differ) walk(dirFd int, dir string, hidden bool) error {
	names, err := readDirNames(dirFd)
	if err != nil {
		return fmt.Errorf("read %q: %w", dir, err)
	}
	for _, n := range names {
		p := path.Join(dir, n)
		fd, err := unix.Openat(dirFd, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // gone since the listing
		}
		if err != nil {
			return fmt.Errorf("open %q: %w", p, err)
		}
		err = c.entry(fd, p, hidden)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *differ) entry(fd int, p string, hidden bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %q: %w", p, err)
	}
	if isWhiteout(&st) {
		c.record(p, ChangeDelete)
		return nil
	}
	var lst unix.Stat_t
	inLower := !hidden && c.lowerStat(p, &lst)
	if !isDir(&st) {
		kind := ChangeAdd
		if inLower {
			kind = ChangeModify
		}
		c.record(p, kind)
		return nil
	}

	opaque := isOpaque(fd)
	switch {
	case !inLower:
		c.record(p, ChangeAdd)
		c.changedDirs[p] = true
	case opaque:
		c.record(p, ChangeModify)
		c.changedDirs[p] = true
	case isDir(&lst) && st.Size == lst.Size && st.Mode == lst.Mode && sameTime(st.Mtim, lst.Mtim):
		// copied up for a change below; listed only as a parent
	default:
		c.record(p, ChangeModify)
		c.changedDirs[p] = true
	}

	dfd, err := unix.Openat(fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", p, err)
	}
	defer unix.Close(dfd)
	if opaque && inLower {
		if err := c.deletedBelow(dfd, p); err != nil {
			return err
		}
	}
	return c.walk(dfd, p, hidden || opaque)
}

// deletedBelow records as deleted what the lowers had in the opaque
// directory p and upper (dirFd) has not.
func (c *differ) deletedBelow(dirFd int, p string) error {
	upperNames, err := readDirNames(dirFd)
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	for _, n := range c.lowerNames(p) {
		if _, found := slices.BinarySearch(upperNames, n); !found {
			c.record(path.Join(p, n), ChangeDelete)
		}
	}
	return nil
}

// isWhiteout reports overlayfs's mark of a deleted lower file.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaque reports whether the directory (an O_PATH fd) hides the lower
// directories of the same path: overlayfs marks it with an xattr, in the
// trusted namespace or, on a userxattr mount, in the user one.
func isOpaque(fd int) bool {
	buf := make([]byte, 1)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		// fgetxattr does not take O_PATH fds; the magic link names the
		// same inode without a path lookup in the tree.
		n, err := unix.Getxattr(procFd(fd), name, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// sameTime compares mtimes as docker does: equal, or equal seconds when
// one side has lost its nanoseconds (some file systems and tar keep none).
func sameTime(a, b unix.Timespec) bool {
	return a == b || (a.Sec == b.Sec && (a.Nsec == 0 || b.Nsec == 0))
}

// lowerStat looks p up in the lowers as overlayfs merges them: the
// top-most layer that has it wins, a whiteout there means it is gone, and
// an opaque directory above it hides the layers below.
func (c *differ) lowerStat(p string, st *unix.Stat_t) bool {
	dir, base := path.Split(p)
	for _, l := range c.lowers {
		// Overlayfs never follows a symlink across layers to find a
		// directory, so none may be followed here either.
		pfd, err := Openat2(l, rel(dir), unix.O_PATH|unix.O_DIRECTORY, beneath|unix.RESOLVE_NO_SYMLINKS)
		if err != nil {
			continue
		}
		err = unix.Fstatat(pfd, base, st, unix.AT_SYMLINK_NOFOLLOW)
		opaque := err != nil && isOpaque(pfd)
		unix.Close(pfd)
		if err == nil {
			return !isWhiteout(st)
		}
		if opaque {
			return false
		}
	}
	return false
}

// lowerNames lists the directory p of the merged lowers.
func (c *differ) lowerNames(p string) []string {
	seen := map[string]bool{} // name → exists
	for _, l := range c.lowers {
		fd, err := Openat2(l, rel(p), unix.O_PATH|unix.O_NOFOLLOW, beneath|unix.RESOLVE_NO_SYMLINKS)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || !isDir(&st) {
			unix.Close(fd) // a file or a whiteout here hides the layers below
			break
		}
		names, _ := readDirNames(fd)
		for _, n := range names {
			if _, ok := seen[n]; ok {
				continue
			}
			var cst unix.Stat_t
			seen[n] = unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW) == nil && !isWhiteout(&cst)
		}
		opaque := isOpaque(fd)
		unix.Close(fd)
		if opaque {
			break
		}
	}
	var out []string
	for n, exists := range seen {
		if exists {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
