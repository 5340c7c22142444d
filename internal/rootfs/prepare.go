package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// Prepare builds the container's mount tree under c.Rootfs, before the
// createContainer hooks run: the propagation of "/", the rootfs bound onto
// itself, every entry of c.Mounts in order, /dev, and c.Devices. The
// caller is in the container's new mount namespace.
func Prepare(sys Syscalls, c *config.Config, opt Options) error {
	opt = opt.withConfig(c)
	// Device nodes and made directories get exactly the config's modes.
	old := sys.Umask(0)
	defer sys.Umask(old)

	if err := prepareRoot(sys, c); err != nil {
		return err
	}
	r, err := openRoot(sys, c.Rootfs)
	if err != nil {
		return err
	}
	defer r.close()
	p := &planner{sys: sys, c: c, opt: opt, r: r}
	for i := range c.Mounts {
		if err := p.mount(&c.Mounts[i]); err != nil {
			return fmt.Errorf("mounts[%d]: %w", i, err)
		}
	}
	if !devBound(c) {
		if err := p.setupDev(); err != nil {
			return err
		}
	}
	if opt.ConsolePath != "" {
		if err := p.console(opt.ConsolePath); err != nil {
			return err
		}
	}
	return nil
}

// prepareRoot sets the propagation of "/" and makes the rootfs a mount of
// its own.
func prepareRoot(sys Syscalls, c *config.Config) error {
	// The new mount namespace starts as a copy of the host's, with the
	// same peer groups: until "/" is made a slave (or private), every
	// mount below would propagate back to the host. So this comes first.
	// rootfsPropagation itself is applied to the container's root once it
	// is one (Enter): pivot_root refuses a shared new root, and an
	// unbindable "/" could not be bound here.
	//
	// Without a mount namespace of its own the container shares the
	// caller's: "/" is left alone, and the rootfs bind below is made
	// rprivate instead, so that nothing mounted in it propagates out.
	// Delete unmounts it all (Unmount).
	_, ownNS := c.Has(config.NSMount)
	if ownNS {
		prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if c.RootPropagation&unix.MS_PRIVATE != 0 {
			prop = unix.MS_PRIVATE | unix.MS_REC
		}
		if err := sys.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set propagation of / to %s: %w", flagString(prop), err)
		}
	}
	// pivot_root needs the new root to be a mount point, and binding the
	// rootfs onto itself makes it one that carries every mount made below.
	if err := sys.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %q onto itself: %w", c.Rootfs, err)
	}
	if !ownNS {
		if err := sys.Mount("", c.Rootfs, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make rootfs %q rprivate: %w", c.Rootfs, err)
		}
	}
	return nil
}

// planner carries what Prepare's steps share.
type planner struct {
	sys Syscalls
	c   *config.Config
	opt Options
	r   *root

	// The host's mounts and the init's cgroups, read once when a cgroup
	// mount needs them.
	mounts  []mountInfo
	cgroups []procCgroup
	loaded  bool
}

func (p *planner) mount(m *config.Mount) error {
	var err error
	switch {
	case m.Type == "bind" || m.IsBind():
		err = p.bind(m)
	case m.Type == "cgroup":
		err = p.cgroupV1(m)
	case m.Type == "cgroup2":
		err = p.cgroup2(m)
	default:
		err = p.fsMount(m)
	}
	if err != nil {
		return err
	}
	return p.after(m)
}

// fsMount mounts a new filesystem instance (proc, sysfs, tmpfs, devpts,
// mqueue, or any other type the kernel knows) on m.Destination.
func (p *planner) fsMount(m *config.Mount) error {
	fd, err := p.r.target(m.Destination, true)
	if err != nil {
		return err
	}
	defer p.sys.Close(fd)
	src := m.Source
	if src == "" {
		src = m.Type
	}
	data := m.Data
	if m.Type == "devpts" {
		data = devptsData(data)
	}
	err = p.sys.Mount(src, fdPath(fd), m.Type, m.Flags, data)
	if errors.Is(err, unix.EPERM) && p.opt.InUserNS {
		// sysfs can only be mounted by a user namespace that owns the
		// network namespace, and mqueue one that owns the IPC
		// namespace; a container with a new user namespace but the
		// host's net or IPC namespace gets a bind of the host's
		// instance instead, as runc does.
		switch m.Type {
		case "sysfs":
			return p.bindHost("/sys", m, fd)
		case "mqueue":
			return p.bindHost("/dev/mqueue", m, fd)
		}
	}
	if err != nil {
		return fmt.Errorf("mount %q on %q: %w", m.Type, m.Destination, err)
	}
	return nil
}

// devptsData adds what a container's devpts needs unless the config says
// otherwise: its own instance (not the host's ptys), and a ptmx node that
// anyone may open, since /dev/ptmx is made a symlink to it.
func devptsData(data string) string {
	has := func(k string) bool {
		for _, o := range splitOpts(data) {
			if o == k || len(o) > len(k) && o[:len(k)+1] == k+"=" {
				return true
			}
		}
		return false
	}
	add := func(o string) {
		if data == "" {
			data = o
		} else {
			data += "," + o
		}
	}
	if !has("newinstance") {
		add("newinstance")
	}
	if !has("ptmxmode") {
		add("ptmxmode=0666")
	}
	return data
}

func splitOpts(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// after applies m's propagation flags and recursive attributes to the
// mount now on m.Destination.
func (p *planner) after(m *config.Mount) error {
	if len(m.Propagation) == 0 && m.RecAttrSet == 0 && m.RecAttrClr == 0 {
		return nil
	}
	// Reopened: an fd taken before the mount holds the directory that is
	// now covered, not the new mount on top of it.
	fd, err := p.r.open(m.Destination, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("open %q after mounting: %w", m.Destination, err)
	}
	defer p.sys.Close(fd)
	for _, pf := range m.Propagation {
		if err := p.sys.Mount("", fdPath(fd), "", pf, ""); err != nil {
			return fmt.Errorf("set propagation of %q to %s: %w", m.Destination, flagString(pf), err)
		}
	}
	if m.RecAttrSet != 0 || m.RecAttrClr != 0 {
		attr := unix.MountAttr{Attr_set: m.RecAttrSet, Attr_clr: m.RecAttrClr}
		// The atime attributes are one field, not bits: changing any of
		// them needs the whole MOUNT_ATTR__ATIME mask in attr_clr, or
		// mount_setattr(2) fails with EINVAL.
		if (attr.Attr_set|attr.Attr_clr)&unix.MOUNT_ATTR__ATIME != 0 {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		if err := p.sys.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("set recursive attributes of %q (set %#x, clear %#x): %w", m.Destination, attr.Attr_set, attr.Attr_clr, err)
		}
	}
	return nil
}
