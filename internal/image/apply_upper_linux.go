package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// overlayOpaqueXattr marks an overlayfs upper directory as opaque: the
// same directory in the layers below is not merged into it.
const overlayOpaqueXattr = "trusted.overlay.opaque"

// ApplyUpper extracts the uncompressed layer tar r into dir, a plain directory that
// becomes an overlayfs upper dir (the layers below are not visible and not consulted):
// a whiteout ".wh.NAME" is written as overlayfs stores one (a 0/0 character device NAME,
// replacing whatever the layer made there earlier), the opaque marker ".wh..wh..opq" as
// the xattr trusted.overlay.opaque="y" on its directory; everything else as ApplyLayer.
// It reads r to the tar's end; the caller drains what follows (padding) for the diff ID check.
//
// It needs no mount: every path is resolved in dir with openat2
// RESOLVE_IN_ROOT and made with *at calls, as ApplyLayer does. Differences
// that follow from the lower layers being absent:
//   - a hard link may only point to a file this layer made;
//   - a 0/0 character device in the tar is refused, since in an upper dir
//     it would be a whiteout the layer did not declare;
//   - a directory that replaces this layer's whiteout or file is made
//     opaque, as overlayfs makes a directory created over a whiteout;
//   - an opaque marker keeps the files this layer put in its directory
//     (in OCI it hides the lower layers only).
//
// Writing trusted.* xattrs and 0/0 devices takes CAP_SYS_ADMIN and
// CAP_MKNOD in the initial user namespace (root, as capsad runs); the
// rootless form (user.overlay.*, mounted with userxattr) is not made here.
func ApplyUpper(ctx context.Context, dir string, r io.Reader, lim Limits) error {
	return apply(ctx, "apply layer to upper dir", dir, r, lim, true)
}

// whiteoutUpper stores the whiteout entry name (".wh.NAME" or the opaque
// marker) as overlayfs would in its upper dir. Missing parents are made,
// as for any entry: the whiteout must sit in the directory it names.
func (a *applier) whiteoutUpper(name string) error {
	pfd, base, err := a.parent(name)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == whiteoutOpaque {
		// The magic link names exactly the directory resolved; setxattr
		// follows it (and only it) to that directory.
		if err := unix.Setxattr(procFd(pfd), overlayOpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("set %s on %q: %w", overlayOpaqueXattr, path.Dir(name), err)
		}
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, target, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if err := removeAt(pfd, target); err != nil {
			return err
		}
	}
	full := path.Join(path.Dir(name), target)
	delete(a.made, full) // the whiteout is no link target
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("make whiteout %q: %w", full, err)
	}
	return nil
}

// setOpaque marks the directory base in dirFd opaque.
func setOpaque(dirFd int, base string) error {
	// lsetxattr does not follow base; the magic link is only a directory
	// part, the parent already resolved in the root.
	if err := unix.Lsetxattr(procFd(dirFd)+"/"+base, overlayOpaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("set %s: %w", overlayOpaqueXattr, err)
	}
	return nil
}

// isWhiteout reports whether st is overlayfs's whiteout: a 0/0 character
// device.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// checkDevice refuses the device entries the applier must not make: any
// with Limits.NoDevices, numbers the kernel cannot hold, and in upper mode
// a 0/0 character device, which overlayfs would read as a whiteout.
func (a *applier) checkDevice(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeChar && hdr.Typeflag != tar.TypeBlock {
		return nil
	}
	if a.noDevices {
		return errdefs.Invalid(fmt.Sprintf("device node (%d/%d) not allowed here", hdr.Devmajor, hdr.Devminor))
	}
	// mknod takes a 32-bit dev_t, 12 bits of major and 20 of minor; it
	// drops higher bits silently, so major 4096 minor 0 would become 0/0.
	if hdr.Devmajor < 0 || hdr.Devmajor >= 1<<12 || hdr.Devminor < 0 || hdr.Devminor >= 1<<20 {
		return errdefs.Invalid(fmt.Sprintf("device number %d/%d out of range", hdr.Devmajor, hdr.Devminor))
	}
	if a.upper && hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
		return errdefs.Invalid("character device 0/0 is an overlayfs whiteout; a layer declares whiteouts as .wh. entries")
	}
	return nil
}
