package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/openat2"
)

// Limits bound what one layer may make, so that a hostile tarball (a tar
// bomb: huge sizes, millions of entries, absurd paths) ends in a one-line
// error instead of a full disk.
type Limits struct {
	MaxBytes   int64 // sum of regular file sizes
	MaxEntries int   // tar headers
	MaxPath    int   // bytes of one entry's name or link target
	// NoDevices refuses character and block device entries, for
	// extractions where a device node makes no sense. Image layers allow
	// them, as docker does (base images carry /dev/null and friends).
	NoDevices bool
}

// DefaultLimits are generous for real images: the largest real layers
// hold about a million files (whole distributions, node_modules trees),
// so MaxEntries is 1<<20 (1 048 576) headers; 64 GiB of file data; 4096
// bytes is PATH_MAX.
var DefaultLimits = Limits{MaxBytes: 64 << 30, MaxEntries: 1 << 20, MaxPath: 4096}

// Whiteout names of the OCI layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// whiteoutMetaPrefix starts names reserved for the whiteout scheme
	// itself (aufs's .wh..wh.plnk hard link store, for one); of these
	// only the opaque marker has meaning in an OCI layer.
	whiteoutMetaPrefix = ".wh..wh."
)

// validWhiteoutTarget reports whether a whiteout ".wh.NAME" names a file
// NAME: not "", "." or ".." (".wh.." would remove the directory holding
// it, or its parent).
func validWhiteoutTarget(name string) bool {
	return name != "" && name != "." && name != ".."
}

// ApplyLayer extracts the uncompressed layer tar r into the directory root,
// which is a mounted snapshot: on an overlay, removing a lower file makes
// overlayfs record the whiteout, so the layer's whiteouts become plain
// removals here.
//
// Every path is resolved inside root with openat2(RESOLVE_IN_ROOT): a
// symlink in the layer (or a lower one) that points to "/etc" or "../.."
// resolves to root's own etc, never the host's. The final component is made
// with *at calls relative to its resolved parent and O_NOFOLLOW, so it is
// never followed either. Extended attributes come from PAX SCHILY.xattr
// records, except overlayfs's own.
func ApplyLayer(ctx context.Context, root string, r io.Reader, lim Limits) error {
	return apply(ctx, "apply layer", root, r, lim, false)
}

// apply is ApplyLayer (upper false) and ApplyUpper (upper true): the two
// differ only in how whiteouts are stored, which device nodes they accept
// and which hard links they allow (see applier.upper).
func apply(ctx context.Context, op, root string, r io.Reader, lim Limits, upper bool) error {
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: open %q: %w", op, root, err)
	}
	defer unix.Close(rootFd)
	a := &applier{rootFd: rootFd, made: map[string]bool{}, upper: upper, noDevices: lim.NoDevices}
	tr := tar.NewReader(r)
	var total int64
	var dirTimes []*tar.Header
	prev := "" // the last entry read, to place an unreadable header
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if n == 0 {
				return fmt.Errorf("%s: read tar: first header: %w", op, err)
			}
			return fmt.Errorf("%s: read tar: header %d, after entry %q: %w", op, n+1, prev, err)
		}
		prev = hdr.Name
		if n >= lim.MaxEntries {
			return errdefs.Invalid(fmt.Sprintf("%s: entry %s: more than %d entries", op, shortName(hdr.Name), lim.MaxEntries))
		}
		if len(hdr.Name) > lim.MaxPath || len(hdr.Linkname) > lim.MaxPath {
			return errdefs.Invalid(fmt.Sprintf("%s: entry %s: name or link over %d bytes", op, shortName(hdr.Name), lim.MaxPath))
		}
		if hdr.Typeflag == tar.TypeReg { // tar.Reader turns old TypeRegA into TypeReg
			if hdr.Size < 0 || hdr.Size > lim.MaxBytes-total {
				return errdefs.Invalid(fmt.Sprintf("%s: entry %q: files over %d bytes in all", op, hdr.Name, lim.MaxBytes))
			}
			total += hdr.Size
		}
		name, ok := clean(hdr.Name)
		if !ok {
			return errdefs.Invalid(fmt.Sprintf("%s: entry %s: the name climbs out of the layer's root", op, shortName(hdr.Name)))
		}
		if name == "" {
			if hdr.Typeflag == tar.TypeDir {
				dirTimes = append(dirTimes, hdr) // the root's own attributes
				if err := a.setAttrs(rootFd, ".", hdr); err != nil {
					return fmt.Errorf("%s: entry %q: %w", op, hdr.Name, err)
				}
			}
			continue
		}
		if err := a.entry(tr, name, hdr); err != nil {
			return fmt.Errorf("%s: entry %q: %w", op, hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = name
			dirTimes = append(dirTimes, &h)
		}
	}
	// Directory times last: making their entries changed them.
	for _, h := range dirTimes {
		name, _ := clean(h.Name)
		if name == "" {
			name = "."
		}
		ts := []unix.Timespec{unix.NsecToTimespec(h.AccessTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
		if h.AccessTime.IsZero() {
			ts[0] = ts[1]
		}
		fd, err := a.resolve(name, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			continue // removed by a later whiteout
		}
		unix.UtimesNanoAt(unix.AT_FDCWD, procFd(fd), ts, 0)
		unix.Close(fd)
	}
	return nil
}

// shortName quotes an entry name for an error, cut to 64 bytes: a
// hostile name may be megabytes long.
func shortName(name string) string {
	if len(name) > 64 {
		return strconv.Quote(name[:64]) + "..."
	}
	return strconv.Quote(name)
}

// clean makes a tar name relative to the root: "./a/../b/" → "b",
// "/etc/passwd" and "/../etc/passwd" → "etc/passwd" (an absolute name
// is taken from the root, as docker does). "" is the root itself. ok is
// false for a relative name that climbs out of the root ("../x",
// "a/../../x"): docker refuses such an entry as a breakout, and so does
// capsa, rather than quietly putting it elsewhere.
func clean(name string) (_ string, ok bool) {
	if !strings.HasPrefix(name, "/") {
		if p := path.Clean(name); p == ".." || strings.HasPrefix(p, "../") {
			return "", false
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), true
}

type applier struct {
	rootFd int
	// made holds the paths this layer has created, which an opaque
	// whiteout in the same layer must keep (and, in upper mode, the only
	// paths a hard link may point to).
	made map[string]bool
	// upper: the root is a plain directory that becomes an overlayfs
	// upper dir (ApplyUpper), not a mounted snapshot: whiteouts are
	// stored as overlayfs stores them instead of removing lower files,
	// which are not there to remove.
	upper bool
	// noDevices refuses character and block devices (Limits.NoDevices).
	noDevices bool
}

// resolve opens name (relative to the root) with openat2 RESOLVE_IN_ROOT.
func (a *applier) resolve(name string, flags int) (int, error) {
	return openat2.Open(a.rootFd, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// parent opens the directory that holds name, making missing directories
// (tars need not list every parent), and returns it with name's last
// component.
func (a *applier) parent(name string) (int, string, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	fd, err := a.resolve(dir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		if err := a.mkdirAll(dir); err != nil {
			return -1, "", err
		}
		fd, err = a.resolve(dir, unix.O_PATH|unix.O_DIRECTORY)
	}
	if err != nil {
		return -1, "", fmt.Errorf("open parent %q: %w", dir, err)
	}
	return fd, base, nil
}

// mkdirAll makes dir and its missing ancestors, each resolved in the root.
func (a *applier) mkdirAll(dir string) error {
	parts := strings.Split(dir, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fd, err := a.resolve(sub, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("open %q: %w", sub, err)
		}
		pfd, base, err := a.parent(sub)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir %q: %w", sub, err)
		}
	}
	return nil
}

// procFd names the open file fd (its magic link in /proc).
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// removeAt removes base (a file or a whole tree) from the directory dirFd.
// os.RemoveAll walks with openat/unlinkat and O_NOFOLLOW, and the
// /proc/self/fd path names exactly the directory already resolved.
func removeAt(dirFd int, base string) error {
	err := os.RemoveAll(procFd(dirFd) + "/" + base)
	if err != nil {
		return fmt.Errorf("remove %q: %w", base, err)
	}
	return nil
}

func (a *applier) entry(tr *tar.Reader, name string, hdr *tar.Header) error {
	if base := path.Base(name); strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base != whiteoutOpaque && strings.HasPrefix(base, whiteoutMetaPrefix):
			return nil // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
		case base != whiteoutOpaque && !validWhiteoutTarget(strings.TrimPrefix(base, whiteoutPrefix)):
			return errdefs.Invalid(fmt.Sprintf("whiteout %q names no file", base))
		case a.upper:
			return a.whiteoutUpper(name)
		}
		return a.whiteout(name)
	}
	if err := a.checkDevice(hdr); err != nil {
		return err
	}
	pfd, base, err := a.parent(name)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	// An entry replaces what is there, except that a directory over a
	// directory merges.
	var st unix.Stat_t
	replaced := false
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
			if err := removeAt(pfd, base); err != nil {
				return err
			}
			replaced = true
		}
	}
	a.made[name] = true

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		if a.upper && replaced {
			// What stood here (this layer's whiteout or file) hid the
			// lower layers' entry; on a mounted overlay the new directory
			// would be opaque for the same reason, so it is here too.
			if err := setOpaque(pfd, base); err != nil {
				return err
			}
		}
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.CopyN(f, tr, hdr.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target, ok := clean(hdr.Linkname)
		if !ok {
			return errdefs.Invalid(fmt.Sprintf("hard link to %q climbs out of the layer's root", hdr.Linkname))
		}
		if a.upper && !a.made[target] {
			// The layers below are not in an upper dir; a link can only
			// be to this layer's own files.
			return errdefs.Invalid(fmt.Sprintf("hard link to %q, which this layer did not make", hdr.Linkname))
		}
		tfd, err := a.resolve(target, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
		}
		if a.upper {
			if err := unix.Fstat(tfd, &st); err == nil && isWhiteout(&st) {
				unix.Close(tfd)
				return errdefs.Invalid(fmt.Sprintf("hard link to %q, a whiteout", hdr.Linkname))
			}
		}
		// Through /proc/self/fd with AT_SYMLINK_FOLLOW rather than
		// AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH (rootless has not).
		err = unix.Linkat(unix.AT_FDCWD, procFd(tfd), pfd, base, unix.AT_SYMLINK_FOLLOW)
		unix.Close(tfd)
		if err != nil {
			return fmt.Errorf("link to %q: %w", hdr.Linkname, err)
		}
		return nil // a hard link shares its target's attributes
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|0o600, int(dev)); err != nil {
			return err
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return errdefs.Invalid(fmt.Sprintf("unsupported tar type %q", hdr.Typeflag))
	}
	return a.setAttrs(pfd, base, hdr)
}

// whiteout applies a whiteout entry: remove what lower layers had at the
// named path, or, for the opaque marker, in the directory. A whiteout under
// a directory that does not exist (in the root) removes nothing.
func (a *applier) whiteout(name string) error {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	fd, err := a.resolve(orDot(dir), unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open parent %q: %w", dir, err)
	}
	defer unix.Close(fd)
	if base == whiteoutOpaque {
		return a.opaque(fd, dir)
	}
	return removeAt(fd, strings.TrimPrefix(base, whiteoutPrefix))
}

func orDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// setAttrs applies owner, mode and mtime of hdr to base in dirFd, never
// following a symlink.
func (a *applier) setAttrs(dirFd int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(dirFd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// fchmodat has no working AT_SYMLINK_NOFOLLOW before Linux 6.6;
		// base is not a symlink here (we just made it), so plain is safe.
		if err := unix.Fchmodat(dirFd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := setXattrs(dirFd, base, hdr); err != nil {
		return err
	}
	mt := hdr.ModTime
	if mt.IsZero() {
		mt = time.Unix(0, 0)
	}
	at := hdr.AccessTime
	if at.IsZero() {
		at = mt
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	if err := unix.UtimesNanoAt(dirFd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// setXattrs applies the extended attributes a tar carries as PAX
// SCHILY.xattr records (security.capability of ping, for one). Attributes
// in overlayfs's own namespaces are refused: a layer must not plant
// trusted.overlay.redirect or .opaque metadata that the overlay below
// would obey.
func setXattrs(dirFd int, base string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			return errdefs.Invalid(fmt.Sprintf("xattr %q: overlayfs metadata is not allowed in a layer", name))
		}
		// lsetxattr does not follow base; the directory part is the
		// parent already resolved in the root.
		if err := unix.Lsetxattr(procFd(dirFd)+"/"+base, name, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %q: %w", name, err)
		}
	}
	return nil
}

// opaque empties the directory dir (relative to the root, "" for the root)
// of what lower layers put there, keeping what this layer already made.
func (a *applier) opaque(dirFd int, dir string) error {
	fd, err := unix.Openat(dirFd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), dir)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if a.made[path.Join(dir, n)] {
			continue
		}
		if err := removeAt(dirFd, n); err != nil {
			return err
		}
	}
	return nil
}
