package archive

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// PathStat describes a path in a container as the Docker API's
// X-Docker-Container-Path-Stat header does (moby's container.PathStat).
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// PathStatHeader is the response header that carries a PathStat.
const PathStatHeader = "X-Docker-Container-Path-Stat"

// EncodePathStat returns the value of the X-Docker-Container-Path-Stat
// header for st: its JSON, base64-encoded.
func EncodePathStat(st PathStat) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode path stat of %q: %w", st.Name, err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// target is a path as the API names it, split the way docker splits it:
// the directory part is resolved in the container (following symlinks,
// inside the root), the last component is not followed. A path ending in
// "/" has an empty base (its last component is followed, so "link/" is
// the directory link points to); one ending in "/." has base "." (docker
// cp's "copy the directory's contents").
type target struct {
	orig string // as given
	abs  string // cleaned absolute path, keeping a trailing "/" or "/."
	dir  string // directory part, relative to the root
	base string // "", "." or a name
}

func parseTarget(p string) (target, error) {
	if p == "" {
		return target{}, errdefs.Invalid("path is empty")
	}
	if len(p) > maxPath {
		return target{}, errdefs.Invalid(fmt.Sprintf("path %.64q...: over %d bytes", p, maxPath))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return target{}, errdefs.Invalid(fmt.Sprintf("path %q: contains a NUL byte", p))
	}
	abs := path.Clean("/" + p)
	if path.Base(abs) != "." && (p == "." || strings.HasSuffix(p, "/.")) {
		abs = strings.TrimSuffix(abs, "/") + "/."
	} else if !strings.HasSuffix(abs, "/") && strings.HasSuffix(p, "/") {
		abs += "/"
	}
	i := strings.LastIndexByte(abs, '/')
	return target{orig: p, abs: abs, dir: rel(abs[:i+1]), base: abs[i+1:]}, nil
}

// name is the name docker gives the path in a stat and as the top entry of
// its archive: the base name of the absolute path ("/" for the root, "."
// for "dir/.").
func (t target) name() string { return path.Base(t.abs) }

// pathErr turns an errno from resolving t into an error with the category
// the API maps to docker's status code.
func (t target) pathErr(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return &categorized{err: fmt.Errorf("path %q: %w", t.orig, err), cat: errdefs.ErrNotFound}
	case errors.Is(err, unix.ENOTDIR):
		return &categorized{err: fmt.Errorf("path %q: %w", t.orig, err), cat: errdefs.ErrInvalid}
	case errors.Is(err, unix.ELOOP):
		return &categorized{err: fmt.Errorf("path %q: %w", t.orig, err), cat: errdefs.ErrInvalid}
	}
	return fmt.Errorf("path %q: %w", t.orig, err)
}

// scope is an open container root.
type scope struct {
	fd   int    // O_PATH directory fd of the root
	real string // the root's path as the kernel names it now
}

func openScope(root string) (*scope, error) {
	fd, err := openDir(root)
	if err != nil {
		return nil, err
	}
	real, err := fdPath(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open %q: %w", root, err)
	}
	return &scope{fd: fd, real: real}, nil
}

func (s *scope) close() { unix.Close(s.fd) }

// containerPath is the absolute path inside the root of the file fd.
func (s *scope) containerPath(fd int) (string, error) {
	p, err := fdPath(fd)
	if err != nil {
		return "", err
	}
	if p == s.real {
		return "/", nil
	}
	if s.real == "/" {
		return p, nil
	}
	if r, ok := strings.CutPrefix(p, s.real+"/"); ok {
		return "/" + r, nil
	}
	return "", fmt.Errorf("%q is no longer under the root %q", p, s.real)
}

// lookup resolves t in the root and returns an O_PATH fd of what it names
// (a symlink itself when t's last component is one) and its stat.
func (s *scope) lookup(t target) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	var fd int
	var err error
	if t.base == "" || t.base == "." {
		fd, err = Openat2(s.fd, t.dir, unix.O_PATH|unix.O_DIRECTORY, inRoot)
	} else {
		var pfd int
		pfd, err = Openat2(s.fd, t.dir, unix.O_PATH|unix.O_DIRECTORY, inRoot)
		if err == nil {
			fd, err = unix.Openat(pfd, t.base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(pfd)
		}
	}
	if err != nil {
		return -1, st, t.pathErr(err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, t.pathErr(err)
	}
	return fd, st, nil
}

// StatPath describes path (absolute in the container whose root
// filesystem is mounted at root) as docker's HEAD /containers/{id}/archive
// does: the last component is not followed, but a symlink's LinkTarget is
// where it leads, fully resolved inside the root. A missing path is an
// error wrapping errdefs.ErrNotFound.
func StatPath(root, p string) (PathStat, error) {
	t, err := parseTarget(p)
	if err != nil {
		return PathStat{}, err
	}
	s, err := openScope(root)
	if err != nil {
		return PathStat{}, err
	}
	defer s.close()
	fd, st, err := s.lookup(t)
	if err != nil {
		return PathStat{}, err
	}
	defer unix.Close(fd)
	return s.stat(t, &st)
}

func (s *scope) stat(t target, st *unix.Stat_t) (PathStat, error) {
	ps := PathStat{
		Name:  t.name(),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if isSymlink(st) {
		lt, err := s.linkTarget(strings.TrimSuffix(t.abs, "/"))
		if err != nil {
			return PathStat{}, t.pathErr(err)
		}
		ps.LinkTarget = lt
	}
	return ps, nil
}

// linkTarget follows the symlink at abs inside the root as far as it
// leads and returns where it ends, as an absolute container path. Like
// docker's FollowSymlinkInScope, a dangling link ends at the missing path.
func (s *scope) linkTarget(abs string) (string, error) {
	cur := path.Clean(abs)
	for range 255 {
		dir, base := path.Split(cur)
		pfd, err := Openat2(s.fd, rel(dir), unix.O_PATH|unix.O_DIRECTORY, inRoot)
		if err != nil {
			return cur, nil // a missing or non-directory parent: as far as it goes
		}
		real, err := s.containerPath(pfd)
		if err != nil {
			unix.Close(pfd)
			return "", err
		}
		if base == "" {
			unix.Close(pfd)
			return real, nil
		}
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(pfd, base, buf)
		unix.Close(pfd)
		if err != nil { // not a symlink, or missing: the end
			return path.Join(real, base), nil
		}
		if t := string(buf[:n]); path.IsAbs(t) {
			cur = path.Clean(t)
		} else {
			cur = path.Join(real, t)
		}
	}
	return "", unix.ELOOP
}
