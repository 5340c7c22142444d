package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/archive"
)

// copyMu serializes copy-ups, so that only the first of several
// containers that mount a new volume at once seeds it.
var copyMu sync.Mutex

// CopyUp seeds the empty volume v with what the container whose root is
// mounted at rootfs has at path, as docker does when it first mounts a
// volume: the directory's entries with their modes, owners, times,
// symlinks (as symlinks) and extended attributes, and the directory's own
// mode and owner on the volume's root. A volume that has entries, or a
// path that is missing or not a directory in the rootfs, is left as is.
//
// path is resolved inside rootfs (openat2 RESOLVE_IN_ROOT): a symlink in
// the image that points out of it ends inside it, never on the host; and
// archive copies nothing below the top by following a link.
func CopyUp(ctx context.Context, rootfs, path string, v Volume) error {
	// Two containers made at once on one new volume would both find it
	// empty and copy over each other.
	copyMu.Lock()
	defer copyMu.Unlock()
	empty, err := isEmpty(v.Mountpoint)
	if err != nil || !empty {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("copy %q of the image into volume %s: %w", path, v.Name, err) }
	root, err := os.Open(rootfs)
	if err != nil {
		return fail(err)
	}
	defer root.Close()
	fd, err := archive.Openat2(int(root.Fd()), strings.TrimLeft(path, "/")+"/", unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return fail(err)
	}
	r, _, err := archive.CopyOut(ctx, rootfs, strings.TrimRight(path, "/")+"/.")
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	if err := archive.CopyIn(ctx, v.Mountpoint, "/", r, archive.CopyInOptions{CopyUIDGID: true}); err != nil {
		return fail(err)
	}
	if err := os.Lchown(v.Mountpoint, int(st.Uid), int(st.Gid)); err != nil {
		return fail(err)
	}
	if err := unix.Chmod(v.Mountpoint, st.Mode&0o7777); err != nil {
		return fail(err)
	}
	return nil
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return true, nil
}
