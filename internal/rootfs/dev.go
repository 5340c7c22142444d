package rootfs

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// defaultDevices are the nodes every container's /dev has (runtime-spec's
// "Default Devices").
var defaultDevices = []config.Device{
	{Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, FileMode: 0o666},
	{Path: "/dev/zero", Type: 'c', Major: 1, Minor: 5, FileMode: 0o666},
	{Path: "/dev/full", Type: 'c', Major: 1, Minor: 7, FileMode: 0o666},
	{Path: "/dev/random", Type: 'c', Major: 1, Minor: 8, FileMode: 0o666},
	{Path: "/dev/urandom", Type: 'c', Major: 1, Minor: 9, FileMode: 0o666},
	{Path: "/dev/tty", Type: 'c', Major: 5, Minor: 0, FileMode: 0o666},
}

// devBound reports whether the config binds a /dev from elsewhere, in
// which case it is used as it is (runc does the same).
func devBound(c *config.Config) bool {
	for _, m := range c.Mounts {
		if path.Clean(m.Destination) == "/dev" && (m.Type == "bind" || m.IsBind()) {
			return true
		}
	}
	return false
}

// setupDev fills /dev: the default devices, linux.devices, /dev/ptmx and
// the standard symlinks.
func (p *planner) setupDev() error {
	for _, d := range defaultDevices {
		if !hasDevice(p.c.Devices, d.Path) {
			if err := p.device(d); err != nil {
				return fmt.Errorf("device %q: %w", d.Path, err)
			}
		}
	}
	for i, d := range p.c.Devices {
		if err := p.device(d); err != nil {
			return fmt.Errorf("linux.devices[%d] %q: %w", i, d.Path, err)
		}
	}
	dfd, err := p.r.mkdirAll("/dev")
	if err != nil {
		return err
	}
	defer p.sys.Close(dfd)
	// The devpts mounted with newinstance has its own ptmx; /dev/ptmx
	// must lead there, not to a node of the host's single instance.
	if err := p.sys.Unlinkat(dfd, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"},
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := p.sys.Symlinkat(l[0], dfd, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s -> %s: %w", l[1], l[0], err)
		}
	}
	return nil
}

func hasDevice(ds []config.Device, p string) bool {
	for _, d := range ds {
		if path.Clean(d.Path) == p {
			return true
		}
	}
	return false
}

// device makes device node d inside the root.
func (p *planner) device(d config.Device) error {
	dir, name := split(d.Path)
	dfd, err := p.r.mkdirAll(dir)
	if err != nil {
		return err
	}
	defer p.sys.Close(dfd)
	if p.opt.InUserNS {
		return p.bindDevice(d, dfd, name)
	}
	var typ uint32
	switch d.Type {
	case 'c', 'u':
		typ = unix.S_IFCHR
	case 'b':
		typ = unix.S_IFBLK
	case 'p':
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q", d.Type)
	}
	perm := d.FileMode & 0o7777
	if perm == 0 {
		perm = 0o666
	}
	err = p.sys.Mknodat(dfd, name, typ|perm, unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	if errors.Is(err, unix.EEXIST) {
		// The rootfs brings its own (no tmpfs on /dev). It is left
		// alone; masking checks /dev/null itself before using it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	// mknod makes it ours (root): a chown only when the config asks for
	// another owner.
	if d.UID != 0 || d.GID != 0 {
		if err := p.sys.Fchownat(dfd, name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown to %d:%d: %w", d.UID, d.GID, err)
		}
	}
	return nil
}

// bindDevice stands the host's node d.Path in for a device: mknod(2) of
// a device needs CAP_MKNOD in the initial user namespace, which a
// container with a user namespace lacks.
func (p *planner) bindDevice(d config.Device, dfd int, name string) error {
	f, err := p.sys.Openat2(dfd, name, &unix.OpenHow{Flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: 0o600, Resolve: here})
	if err == nil {
		p.sys.Close(f)
	} else if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create: %w", err)
	}
	fd, err := p.sys.Openat2(dfd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: here})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer p.sys.Close(fd)
	var st unix.Stat_t
	if err := p.sys.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("a symlink or directory is in the way")
	}
	if err := p.sys.Mount(d.Path, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the host's %q: %w", d.Path, err)
	}
	return nil
}

// console binds the pty slave at host path pty onto /dev/console.
func (p *planner) console(pty string) error {
	fd, err := p.r.target("/dev/console", false)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer p.sys.Close(fd)
	if err := p.sys.Mount(pty, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind console %q on %q: %w", pty, "/dev/console", err)
	}
	return nil
}
