package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// bindOnly are the flags the first, plain bind takes; any other flag needs
// a second pass, because mount(2) ignores them on a new bind.
const bindOnly = unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT

// lockable are the per-mount flags the kernel locks when a mount is
// carried into a less privileged mount namespace.
const (
	lockable  = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	atimeMask = unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
)

// bind mounts host path m.Source on m.Destination.
func (p *planner) bind(m *config.Mount) error {
	// The source is opened once and used through its fd, so the fstat
	// that decides file-or-directory and the mount see the same file.
	src, err := p.sys.Openat2(unix.AT_FDCWD, m.Source, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("bind source %q does not exist", m.Source)
	}
	if err != nil {
		return fmt.Errorf("open bind source %q: %w", m.Source, err)
	}
	defer p.sys.Close(src)
	var st unix.Stat_t
	if err := p.sys.Fstat(src, &st); err != nil {
		return fmt.Errorf("stat bind source %q: %w", m.Source, err)
	}
	dst, err := p.r.target(m.Destination, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	if m.IDMapped {
		err = p.idmapBind(m, src, dst)
	} else if err = p.sys.Mount(fdPath(src), fdPath(dst), "", unix.MS_BIND|m.Flags&unix.MS_REC, ""); err != nil {
		err = fmt.Errorf("bind %q on %q: %w", m.Source, m.Destination, err)
	}
	p.sys.Close(dst)
	if err != nil {
		return err
	}
	if m.Flags&^bindOnly != 0 {
		return p.remountBind(m.Destination, m.Source, fdPath(src), m.Flags, m.ClearedFlags)
	}
	return nil
}

// bindHost binds host path src onto the open destination fd, as a stand-in
// for a filesystem the container may not mount itself, then applies m's
// flags.
func (p *planner) bindHost(src string, m *config.Mount, fd int) error {
	if err := p.sys.Mount(src, fdPath(fd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind host %q on %q (%s cannot be mounted here): %w", src, m.Destination, m.Type, err)
	}
	if m.Flags&^bindOnly != 0 {
		return p.remountBind(m.Destination, src, src, m.Flags, m.ClearedFlags)
	}
	return nil
}

// remountBind gives the bind mount on dest the flags of the config: a
// MS_REMOUNT|MS_BIND replaces all per-mount flags at once.
func (p *planner) remountBind(dest, srcName, srcPath string, flags, cleared uintptr) error {
	fd, err := p.r.open(dest, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("open %q after binding: %w", dest, err)
	}
	defer p.sys.Close(fd)
	want := flags&^unix.MS_REC | unix.MS_REMOUNT | unix.MS_BIND
	err = p.sys.Mount("", fdPath(fd), "", want, "")
	if errors.Is(err, unix.EPERM) {
		// In a user namespace the kernel locks the flags a mount had
		// when it came into the namespace (ro, nosuid, nodev, noexec,
		// the atime mode): a remount that would drop one fails with
		// EPERM. Keep those the source has, unless the config asked to
		// clear one, which cannot be honoured.
		var sfs unix.Statfs_t
		if serr := p.sys.Statfs(srcPath, &sfs); serr == nil {
			locked := statfsFlags(sfs.Flags)
			if bad := locked & cleared & (lockable | atimeMask); bad != 0 {
				return fmt.Errorf("remount %q: the options clear %s, which the source %q has and the kernel locks", dest, flagString(bad), srcName)
			}
			retry := want | locked&lockable
			if want&atimeMask == 0 {
				retry |= locked & atimeMask
			}
			if retry != want {
				want = retry
				err = p.sys.Mount("", fdPath(fd), "", want, "")
			}
		}
	}
	if err != nil {
		return fmt.Errorf("remount %q with %s: %w", dest, flagString(want), err)
	}
	return nil
}

// statfsFlags turns statfs(2)'s ST_* flags into the MS_* flags a remount
// takes (they mostly share values, but not ST_RELATIME).
func statfsFlags(f int64) uintptr {
	var out uintptr
	for _, x := range []struct {
		st int64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if f&x.st != 0 {
			out |= x.ms
		}
	}
	return out
}

// idmapBind makes an idmapped bind of src onto dst: a detached copy of the
// source tree (open_tree OPEN_TREE_CLONE), given the mapping of a user
// namespace (mount_setattr MOUNT_ATTR_IDMAP, which only works on a mount
// not yet attached), then attached on the destination (move_mount).
func (p *planner) idmapBind(m *config.Mount, src, dst int) error {
	if p.opt.InUserNS {
		// The helper namespace would be a child of the container's and
		// could only map ids the container has; making idmapped mounts
		// for a user-namespaced container needs the runtime's side.
		return fmt.Errorf("idmapped bind of %q: not supported for a container with a user namespace yet", m.Source)
	}
	uids, gids := m.UIDMappings, m.GIDMappings
	if len(uids) == 0 {
		uids = p.c.UIDMappings
	}
	if len(gids) == 0 {
		gids = p.c.GIDMappings
	}
	if len(uids) == 0 || len(gids) == 0 {
		return fmt.Errorf("idmapped bind of %q: no uidMappings and gidMappings in the mount or in linux", m.Source)
	}
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if m.Flags&unix.MS_REC != 0 {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := p.sys.OpenTree(src, "", flags)
	if err != nil {
		return fmt.Errorf("idmapped bind of %q: clone the source: %w", m.Source, err)
	}
	defer p.sys.Close(tree)
	ns, err := p.sys.UsernsFd(uids, gids)
	if err != nil {
		return fmt.Errorf("idmapped bind of %q: %w", m.Source, err)
	}
	defer p.sys.Close(ns)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if m.IDMapRec {
		setFlags |= unix.AT_RECURSIVE
	}
	if err := p.sys.MountSetattr(tree, "", setFlags, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}); err != nil {
		return fmt.Errorf("idmapped bind of %q: the kernel or the filesystem refuses the mapping: %w", m.Source, err)
	}
	if err := p.sys.MoveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmapped bind of %q on %q: %w", m.Source, m.Destination, err)
	}
	return nil
}
