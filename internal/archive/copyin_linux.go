package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// CopyInOptions are PUT /containers/{id}/archive's parameters.
type CopyInOptions struct {
	// NoOverwriteDirNonDir makes it an error to replace a directory
	// with a non-directory or the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID keeps the archive's numeric uid and gid (docker cp -a).
	// Without it, everything extracted is owned by UID:GID.
	CopyUIDGID bool
	// UID and GID own what is extracted without CopyUIDGID, and the
	// parent directories an archive implies. docker uses the container's
	// root: 0:0, or its host ids under a user namespace remap.
	UID, GID int
	Limits   Limits
}

// CopyIn extracts the tar stream r (plain, gzip or bzip2) into the
// directory dir of the container whose root filesystem is mounted at
// root, as docker's PUT /containers/{id}/archive does.
//
// dir is resolved inside the root, following symlinks (so a link to a
// directory is a valid destination); it must exist (else an error
// wrapping errdefs.ErrNotFound) and be a directory (else ErrInvalid, 400).
// A read-only file system gives ErrPermission (403).
//
// Entries stay below dir: names are relative to it ("/etc/x" is
// dir/etc/x), a name or hard link target that climbs out with ".." is
// refused, and every lookup is an openat2 RESOLVE_BENEATH from dir, so a
// symlink, whether the archive made it or the container, that leads out
// of dir fails the entry with EXDEV instead of being followed. An
// existing entry is replaced, except that a directory merges into a
// directory. Modes, times (whole seconds as docker writes them), symlinks,
// hard links, devices, fifos and extended attributes are restored;
// overlayfs's own attributes are refused.
func CopyIn(ctx context.Context, root, dir string, r io.Reader, opts CopyInOptions) error {
	t, err := parseTarget(dir)
	if err != nil {
		return err
	}
	if opts.UID < 0 || opts.GID < 0 {
		return errdefs.Invalid(fmt.Sprintf("copy into %q: negative owner %d:%d", dir, opts.UID, opts.GID))
	}
	s, err := openScope(root)
	if err != nil {
		return err
	}
	defer s.close()
	dest, err := Openat2(s.fd, rel(path.Clean(t.abs)), unix.O_PATH|unix.O_DIRECTORY, inRoot)
	if errors.Is(err, unix.ENOTDIR) {
		return errdefs.Invalid(fmt.Sprintf("copy into %q: extraction point is not a directory", dir))
	}
	if err != nil {
		return t.pathErr(err)
	}
	defer unix.Close(dest)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(dest, &sfs); err == nil && sfs.Flags&unix.ST_RDONLY != 0 {
		return &categorized{err: fmt.Errorf("copy into %q: %w", dir, unix.EROFS), cat: errdefs.ErrPermission}
	}
	in, err := decompress(r)
	if err != nil {
		return fmt.Errorf("copy into %q: %w", dir, err)
	}
	x := &extractor{dest: dest, opts: opts, lim: opts.Limits.withDefaults()}
	if err := x.run(ctx, tar.NewReader(in)); err != nil {
		err = fmt.Errorf("copy into %q: %w", dir, err)
		if errors.Is(err, unix.EROFS) {
			return &categorized{err: err, cat: errdefs.ErrPermission}
		}
		return err
	}
	return nil
}

// decompress recognizes the compressions the API accepts by their magic
// numbers.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("read gzip archive: %v", err))
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errdefs.NotImplemented("xz-compressed archives are not supported; send it plain or gzip")
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errdefs.NotImplemented("zstd-compressed archives are not supported; send it plain or gzip")
	}
	return br, nil
}

type extractor struct {
	dest  int // O_PATH fd of the destination directory
	opts  CopyInOptions
	lim   Limits
	total int64
	dirs  []*tar.Header // directories whose times are set last
}

func (x *extractor) run(ctx context.Context, tr *tar.Reader) error {
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("read tar: %v", err))
		}
		if n >= x.lim.MaxEntries {
			return errdefs.Invalid(fmt.Sprintf("more than %d entries", x.lim.MaxEntries))
		}
		if len(hdr.Name) > x.lim.MaxPath || len(hdr.Linkname) > x.lim.MaxPath {
			return errdefs.Invalid(fmt.Sprintf("entry %.64q...: name or link over %d bytes", hdr.Name, x.lim.MaxPath))
		}
		orig := hdr.Name
		if err := x.entry(tr, hdr); err != nil {
			return fmt.Errorf("entry %q: %w", orig, err)
		}
	}
	// Directory times last: making their entries changed them.
	for _, h := range x.dirs {
		pfd, base, err := x.parent(h.Name, false)
		if err != nil {
			continue // replaced by a later entry, or by the container
		}
		unix.UtimesNanoAt(pfd, base, times(h), unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(pfd)
	}
	return nil
}

// entryPath makes a tar name relative to the destination as docker does:
// "./a/" and "/a" are "a", "" is the destination itself, and a name that
// climbs out of it ("../x", "a/../../x") is refused.
func entryPath(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.Invalid("name contains a NUL byte")
	}
	c := strings.TrimLeft(path.Clean("/"+strings.TrimLeft(name, "/")), "/")
	if p := path.Clean(name); p == ".." || strings.HasPrefix(p, "../") {
		return "", errdefs.Invalid("outside the destination")
	}
	return c, nil
}

func (x *extractor) owner(hdr *tar.Header) (int, int, error) {
	if !x.opts.CopyUIDGID {
		return x.opts.UID, x.opts.GID, nil
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<32-2 || hdr.Gid > 1<<32-2 {
		return 0, 0, errdefs.Invalid(fmt.Sprintf("owner %d:%d out of range", hdr.Uid, hdr.Gid))
	}
	return hdr.Uid, hdr.Gid, nil
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	name, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the destination itself: docker leaves it as it is
	}
	hdr.Name = name
	uid, gid, err := x.owner(hdr)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return errdefs.Invalid(fmt.Sprintf("unsupported tar type %q", hdr.Typeflag))
	}
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
		if hdr.Size < 0 || hdr.Size > x.lim.MaxBytes-x.total {
			return errdefs.Invalid(fmt.Sprintf("files over %d bytes in all", x.lim.MaxBytes))
		}
		x.total += hdr.Size
	}
	for k := range hdr.PAXRecords {
		if xn, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && skipXattr(xn) && xn != "security.selinux" {
			return errdefs.Invalid(fmt.Sprintf("xattr %q: overlayfs metadata is not allowed", xn))
		}
	}

	pfd, base, err := x.parent(name, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	// An entry replaces what is there, except that a directory merges
	// into a directory.
	newDir := hdr.Typeflag == tar.TypeDir
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if x.opts.NoOverwriteDirNonDir && isDir(&st) && !newDir {
			return errdefs.Invalid(fmt.Sprintf("cannot overwrite directory %q with non-directory", name))
		}
		if x.opts.NoOverwriteDirNonDir && !isDir(&st) && newDir {
			return errdefs.Invalid(fmt.Sprintf("cannot overwrite non-directory %q with directory", name))
		}
		if !(newDir && isDir(&st)) {
			if hdr.Typeflag == tar.TypeLink {
				if target, err := entryPath(hdr.Linkname); err == nil && target == name {
					return nil // a link to itself: already there
				}
			}
			// os.RemoveAll walks with openat/unlinkat and O_NOFOLLOW,
			// from the parent already resolved (its /proc/self/fd link).
			if err := os.RemoveAll(procFd(pfd) + "/" + base); err != nil {
				return fmt.Errorf("remove the existing %q: %w", name, err)
			}
		}
	}

	var fd int // what we made, opened without following: attributes go through it
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		fd, err = unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		h := *hdr
		x.dirs = append(x.dirs, &h)
	case tar.TypeReg, tar.TypeGNUSparse:
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		// Plain writes on the raw fd: an os.File would close it too.
		if _, err := io.CopyN(fdWriter(fd), tr, hdr.Size); err != nil {
			unix.Close(fd)
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times: %w", err)
		}
		return nil
	case tar.TypeLink:
		return x.link(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > 1<<12-1 || hdr.Devminor > 1<<20-1 {
			return errdefs.Invalid(fmt.Sprintf("device %d:%d out of range", hdr.Devmajor, hdr.Devminor))
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|0o600, int(dev)); err != nil {
			return err
		}
		// O_PATH: a device or fifo is never opened for real.
		fd, err = unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
	}
	defer unix.Close(fd)
	return x.setAttrs(fd, pfd, base, hdr, uid, gid)
}

// parent opens the directory that holds name (beneath the destination)
// and returns it with name's last component. With mk, missing directories
// are made: archives need not list every parent.
func (x *extractor) parent(name string, mk bool) (int, string, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	fd, err := Openat2(x.dest, dir, unix.O_PATH|unix.O_DIRECTORY, beneath)
	if errors.Is(err, unix.ENOENT) && mk {
		if err := x.mkdirAll(dir); err != nil {
			return -1, "", err
		}
		fd, err = Openat2(x.dest, dir, unix.O_PATH|unix.O_DIRECTORY, beneath)
	}
	if err != nil {
		return -1, "", beneathErr(dir, err)
	}
	return fd, base, nil
}

// beneathErr explains a failed lookup below the destination.
func beneathErr(name string, err error) error {
	if errors.Is(err, unix.EXDEV) {
		return &categorized{err: fmt.Errorf("%q resolves outside the destination", name), cat: errdefs.ErrInvalid}
	}
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return &categorized{err: fmt.Errorf("%q: %w", name, err), cat: errdefs.ErrInvalid}
	}
	return fmt.Errorf("%q: %w", name, err)
}

// mkdirAll makes dir and its missing ancestors beneath the destination,
// owned by the default owner (as docker's implied parents are).
func (x *extractor) mkdirAll(dir string) error {
	parts := strings.Split(dir, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fd, err := Openat2(x.dest, sub, unix.O_PATH|unix.O_DIRECTORY, beneath)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return beneathErr(sub, err)
		}
		pfd, base, err := x.parent(sub, false)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		if err == nil {
			err = unix.Fchownat(pfd, base, x.opts.UID, x.opts.GID, unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir %q: %w", sub, err)
		}
	}
	return nil
}

// link makes a hard link base (in pfd) to the archive's earlier entry
// hdr.Linkname, which must be beneath the destination too.
func (x *extractor) link(pfd int, base string, hdr *tar.Header) error {
	target, err := entryPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	if target == "" {
		return errdefs.Invalid(fmt.Sprintf("link target %q: is the destination", hdr.Linkname))
	}
	tfd, err := Openat2(x.dest, target, unix.O_PATH|unix.O_NOFOLLOW, beneath)
	if err != nil {
		return fmt.Errorf("link target %w", beneathErr(hdr.Linkname, err))
	}
	defer unix.Close(tfd)
	// Through /proc/self/fd with AT_SYMLINK_FOLLOW: it links exactly the
	// inode resolved above (AT_EMPTY_PATH would need
	// CAP_DAC_READ_SEARCH, which rootless lacks).
	if err := unix.Linkat(unix.AT_FDCWD, procFd(tfd), pfd, base, unix.AT_SYMLINK_FOLLOW); err != nil {
		return fmt.Errorf("link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// setAttrs gives the file fd (which is base in pfd: a regular file or
// directory open for real, a device or fifo as O_PATH) the owner, mode,
// xattrs and times of hdr, never through a path the container could
// swap.
func (x *extractor) setAttrs(fd, pfd int, base string, hdr *tar.Header, uid, gid int) error {
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	// After chown, which clears setuid and setgid. fchmod does not take
	// O_PATH fds, and fchmodat cannot refuse a symlink before Linux 6.6;
	// the /proc/self/fd link names the inode we made, whatever is at
	// base now.
	mode := uint32(hdr.Mode) & 0o7777
	if err := unix.Fchmod(fd, mode); errors.Is(err, unix.EBADF) {
		err = unix.Chmod(procFd(fd), mode)
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || name == "security.selinux" {
			continue
		}
		err := unix.Setxattr(procFd(fd), name, []byte(v), 0)
		// As docker: a file system without xattrs, or a namespace we
		// may not write, loses them rather than failing the copy.
		if err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("set xattr %q: %w", name, err)
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil // last, in run
	}
	if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// times is hdr's access and modification time for utimensat; a missing
// access time is the modification time.
func times(hdr *tar.Header) []unix.Timespec {
	mt := hdr.ModTime
	if mt.IsZero() {
		mt = time.Unix(0, 0)
	}
	at := hdr.AccessTime
	if at.IsZero() {
		at = mt
	}
	return []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
}

// fdWriter writes to a file descriptor it does not own.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
