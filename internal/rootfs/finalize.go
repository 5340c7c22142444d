package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Finalize runs after Enter, inside the new root: it makes readonlyPaths
// read-only, masks maskedPaths, then makes the root read-only if asked.
// Paths that do not exist are skipped, as the spec allows.
//
// It uses the fd-based mount API (open_tree, move_mount, mount_setattr,
// fsopen) rather than mount(2) on /proc/self/fd/N: the container's /proc
// may be absent, and no path is looked up again between check and use.
func Finalize(sys Syscalls, c *config.Config) error {
	r, err := openRoot(sys, "/")
	if err != nil {
		return err
	}
	defer r.close()
	for i, p := range c.ReadonlyPaths {
		if err := readonlyPath(r, p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d]: %w", i, err)
		}
	}
	null := -1
	defer func() {
		if null >= 0 {
			sys.Close(null)
		}
	}()
	for i, p := range c.MaskedPaths {
		if err := maskPath(r, p, &null); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d]: %w", i, err)
		}
	}
	if c.RootReadonly {
		// mount_setattr changes only the read-only bit; a bind remount
		// would have to repeat every other flag, some of which the
		// kernel may have locked.
		if err := sys.MountSetattr(r.fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("root.readonly: make / read-only: %w", err)
		}
	}
	return nil
}

// skip reports whether a path error means "not there": masked and
// read-only paths that do not exist are skipped.
func skip(err error) bool { return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) }

// readonlyPath binds p onto itself read-only: a detached clone of the
// tree at p made read-only (recursively, so submounts such as
// /proc/sys/fs/binfmt_misc are covered too) before it is attached.
func readonlyPath(r *root, p string) error {
	fd, err := r.open(p, unix.O_PATH)
	if skip(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %q: %w", p, err)
	}
	defer r.sys.Close(fd)
	tree, err := r.sys.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("bind %q: %w", p, err)
	}
	defer r.sys.Close(tree)
	if err := r.sys.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("make %q read-only: %w", p, err)
	}
	if err := r.sys.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount read-only %q: %w", p, err)
	}
	return nil
}

// maskPath hides p: an empty read-only tmpfs over a directory, the null
// device over anything else. *null caches the fd of the container's
// /dev/null once it has been checked.
func maskPath(r *root, p string, null *int) error {
	fd, err := r.open(p, unix.O_PATH)
	if skip(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %q: %w", p, err)
	}
	defer r.sys.Close(fd)
	var st unix.Stat_t
	if err := r.sys.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %q: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		fs, err := r.sys.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return fmt.Errorf("mask %q: open tmpfs: %w", p, err)
		}
		defer r.sys.Close(fs)
		if err := r.sys.FsconfigCreate(fs); err != nil {
			return fmt.Errorf("mask %q: create tmpfs: %w", p, err)
		}
		mnt, err := r.sys.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		if err != nil {
			return fmt.Errorf("mask %q: mount tmpfs: %w", p, err)
		}
		defer r.sys.Close(mnt)
		if err := r.sys.MoveMount(mnt, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			return fmt.Errorf("mask %q: %w", p, err)
		}
		return nil
	}
	if *null < 0 {
		n, err := openNull(r)
		if err != nil {
			return fmt.Errorf("mask %q: %w", p, err)
		}
		*null = n
	}
	tree, err := r.sys.OpenTree(*null, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("mask %q: bind /dev/null: %w", p, err)
	}
	defer r.sys.Close(tree)
	if err := r.sys.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mask %q: %w", p, err)
	}
	return nil
}

// openNull opens the container's /dev/null for masking and checks that it
// is the null device. The rootfs controls /dev unless a tmpfs is mounted
// there: a /dev/null that is a symlink, a regular file or a bind of
// something else would turn masking into exposing (CVE-2025-31133). The fd
// that passed fstat is the one bound, so nothing can be swapped in between.
func openNull(r *root) (int, error) {
	fd, err := r.sys.Openat2(r.fd, "dev/null", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("/dev/null in the container is a symlink (or under one): refusing to mask with it")
		}
		return -1, fmt.Errorf("open /dev/null in the container: %w", err)
	}
	var st unix.Stat_t
	if err := r.sys.Fstat(fd, &st); err != nil {
		r.sys.Close(fd)
		return -1, fmt.Errorf("stat /dev/null in the container: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		r.sys.Close(fd)
		return -1, fmt.Errorf("/dev/null in the container is not the null device (char 1:3; mode %#o, rdev %d:%d): refusing to mask with it",
			st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return fd, nil
}
