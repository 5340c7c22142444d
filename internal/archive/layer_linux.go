package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// OCI whiteout names: a deleted file "x" is the empty file ".wh.x"; a
// directory that hides everything below it in the lower layers holds
// ".wh..wh..opq".
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Layer returns an OCI layer tar of the overlay upper directory upper:
// the entries named relative to it ("etc/", "etc/passwd"), overlayfs's
// whiteouts (character devices 0/0) written as ".wh.<name>" files and its
// opaque directories (xattr overlay.opaque=y) as a ".wh..wh..opq" entry
// inside them. Every name is opened below its directory with O_NOFOLLOW,
// so a symlink in the tree is archived as a symlink and never followed.
//
// The stream is produced while it is read; the caller must Close it.
func Layer(ctx context.Context, upper string) (io.ReadCloser, error) {
	fd, err := openDir(upper)
	if err != nil {
		return nil, fmt.Errorf("layer of %q: %w", upper, err)
	}
	return produce(func(w *tarWriter) error {
		defer unix.Close(fd)
		return w.layerDir(ctx, fd, "")
	}), nil
}

// layerDir writes the entries below the upper directory dirFd, whose
// entry (if any) is named name.
func (w *tarWriter) layerDir(ctx context.Context, dirFd int, name string) error {
	names, err := readDirNames(dirFd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", name, err)
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		fd, err := unix.Openat(dirFd, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // removed since we listed the directory
		}
		if err != nil {
			return fmt.Errorf("open %q: %w", path.Join(name, n), err)
		}
		err = w.layerEntry(ctx, fd, name, n)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// layerEntry writes the file fd (O_PATH), named n in the directory dir.
func (w *tarWriter) layerEntry(ctx context.Context, fd int, dir, n string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %q: %w", path.Join(dir, n), err)
	}
	if isWhiteout(&st) {
		return w.writeHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: path.Join(dir, whiteoutPrefix+n), Mode: 0o600,
			ModTime: time.Unix(st.Mtim.Sec, 0), Format: tar.FormatPAX,
		})
	}
	name := path.Join(dir, n)
	if err := w.add(fd, &st, name); err != nil {
		return err
	}
	if !isDir(&st) {
		return nil
	}
	if isOpaque(fd) {
		if err := w.writeHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: path.Join(name, whiteoutOpaque), Mode: 0o600,
			ModTime: time.Unix(st.Mtim.Sec, 0), Format: tar.FormatPAX,
		}); err != nil {
			return err
		}
	}
	return w.layerDir(ctx, fd, name)
}
