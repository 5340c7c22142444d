package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// inRoot is how every container path is resolved: absolute symlinks and
// ".." are taken relative to the root fd and can never climb above it
// (openat2 RESOLVE_IN_ROOT, Linux 5.6), and procfs magic links, which would
// jump anywhere, are refused.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// here resolves one name in a directory fd with no symlink at all, used
// right after creating that name to get a handle on exactly what was made.
const here = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// root is an open handle on a container's root directory. Paths inside the
// container are resolved through it, never by joining strings, so that a
// symlink in the rootfs (or one swapped in by a racing process that shares
// a volume) cannot redirect a mount to the host (CVE-2021-30465).
type root struct {
	sys  Syscalls
	fd   int
	path string // host path, for messages only
}

func openRoot(sys Syscalls, p string) (*root, error) {
	fd, err := sys.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return nil, fmt.Errorf("open root %q: %w", p, err)
	}
	return &root{sys: sys, fd: fd, path: p}, nil
}

func (r *root) close() { r.sys.Close(r.fd) }

// rel turns a container path into one relative to the root fd.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// fdPath names fd for the path-based calls (mount(2) takes no fd): the
// kernel follows the magic link to the very file the fd holds, whatever
// happened to its path since.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// open resolves p inside the root and opens it with flags (O_CLOEXEC is
// added).
func (r *root) open(p string, flags int) (int, error) {
	return r.sys.Openat2(r.fd, rel(p), &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot})
}

// mkdirAll makes directory p and its missing parents inside the root, and
// returns an O_PATH fd on it.
func (r *root) mkdirAll(p string) (int, error) { return r.mkdirAllDepth(p, 0) }

// maxLinks bounds the symlinks followed while making a path, as the
// kernel's own limit of 40 does for a lookup.
const maxLinks = 40

// follow reads the symlink name in directory dirfd, which is container
// path dir, and returns full (a path below dir/name) with dir/name
// replaced by the link's target, resolved as inside the root: an absolute
// target starts at the root and ".." stops there.
func (r *root) follow(dirfd int, name, dir, full string) (string, bool) {
	t, err := r.sys.Readlinkat(dirfd, name)
	if err != nil {
		return "", false
	}
	link := path.Clean("/" + dir + "/" + name)
	rest := strings.TrimPrefix(path.Clean("/"+full), link)
	if !path.IsAbs(t) {
		t = path.Join("/"+dir, t)
	}
	return path.Clean("/" + t + rest), true
}

func (r *root) mkdirAllDepth(p string, depth int) (int, error) {
	fd, err := r.open("/", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, fmt.Errorf("open %q: %w", r.path, err)
	}
	cur := ""
	for _, c := range strings.Split(rel(p), "/") {
		if c == "." {
			continue
		}
		next := cur + "/" + c
		nfd, err := r.open(next, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			// fd is the directory next's parent resolved to: make the
			// name there, then take it without following anything, so a
			// symlink raced into its place is refused, not followed.
			if err := r.sys.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				r.sys.Close(fd)
				return -1, fmt.Errorf("mkdir %q: %w", next, err)
			}
			nfd, err = r.sys.Openat2(fd, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: here})
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				// A symlink to a missing path: make its target, as the
				// container would see it, then go on from there.
				if np, ok := r.follow(fd, c, cur, p); ok && depth < maxLinks {
					r.sys.Close(fd)
					return r.mkdirAllDepth(np, depth+1)
				}
				err = errors.New("not a directory")
			}
		}
		r.sys.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %q: %w", next, err)
		}
		fd, cur = nfd, next
	}
	return fd, nil
}

// split returns the parent and the last name of container path p.
func split(p string) (string, string) {
	p = path.Clean("/" + p)
	return path.Dir(p), path.Base(p)
}

// target resolves the mount destination p inside the root, creating it
// (and its parents) when missing: a directory if dir, else an empty file.
// It returns an O_PATH fd on it. An existing destination of the other
// kind is an error: mount(2) would refuse it with a less helpful ENOTDIR.
func (r *root) target(p string, dir bool) (int, error) {
	fd, err := r.open(p, unix.O_PATH)
	if err == nil {
		var st unix.Stat_t
		if err := r.sys.Fstat(fd, &st); err != nil {
			r.sys.Close(fd)
			return -1, fmt.Errorf("stat %q: %w", p, err)
		}
		if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != dir {
			r.sys.Close(fd)
			if dir {
				return -1, fmt.Errorf("%q is not a directory", p)
			}
			return -1, fmt.Errorf("%q is a directory, the source is not", p)
		}
		return fd, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("open %q: %w", p, err)
	}
	return r.create(p, dir, 0)
}

// create makes the missing mount destination p; a dangling symlink in its
// place is followed inside the root and its target made instead, as runc
// does (CVE-2021-30465: never outside the root).
func (r *root) create(p string, dir bool, depth int) (int, error) {
	parent, name := split(p)
	pfd, err := r.mkdirAll(parent)
	if err != nil {
		return -1, err
	}
	defer r.sys.Close(pfd)
	if dir {
		err = r.sys.Mkdirat(pfd, name, 0o755)
	} else {
		var f int
		f, err = r.sys.Openat2(pfd, name, &unix.OpenHow{Flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: 0o644, Resolve: here})
		if err == nil {
			r.sys.Close(f)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %q: %w", p, err)
	}
	flags := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if dir {
		flags |= unix.O_DIRECTORY
	}
	fd, err := r.sys.Openat2(pfd, name, &unix.OpenHow{Flags: uint64(flags), Resolve: here})
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			if np, ok := r.follow(pfd, name, parent, p); ok && depth < maxLinks {
				return r.create(np, dir, depth+1)
			}
			return -1, fmt.Errorf("%q is a symlink that cannot be followed", p)
		}
		return -1, fmt.Errorf("open %q: %w", p, err)
	}
	// O_PATH|O_NOFOLLOW opens a symlink itself rather than failing: make
	// sure what we hold is what we made.
	var st unix.Stat_t
	if err := r.sys.Fstat(fd, &st); err != nil {
		r.sys.Close(fd)
		return -1, fmt.Errorf("stat %q: %w", p, err)
	}
	if t := st.Mode & unix.S_IFMT; t == unix.S_IFLNK {
		r.sys.Close(fd)
		if np, ok := r.follow(pfd, name, parent, p); ok && depth < maxLinks {
			return r.create(np, dir, depth+1)
		}
		return -1, fmt.Errorf("%q is a symlink that cannot be followed", p)
	} else if (t == unix.S_IFDIR) != dir {
		r.sys.Close(fd)
		return -1, fmt.Errorf("%q changed while being created", p)
	}
	return fd, nil
}
