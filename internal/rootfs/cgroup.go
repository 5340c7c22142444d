package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// cgroupFlags are the flags every cgroup mount in a container gets.
const cgroupFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

func (p *planner) load() error {
	if p.loaded {
		return nil
	}
	mi, err := p.sys.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	cg, err := p.sys.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	p.mounts, p.cgroups, p.loaded = parseMountInfo(mi), parseProcCgroup(cg), true
	return nil
}

// hierarchies returns the host's cgroup v1 hierarchies, one mount each,
// then the cgroup2 one if there is one (the hybrid layout).
func (p *planner) hierarchies() (v1 []mountInfo, v2 *mountInfo) {
	seen := map[string]bool{}
	for i, m := range p.mounts {
		switch m.FSType {
		case "cgroup":
			if !seen[m.Dev] {
				seen[m.Dev] = true
				v1 = append(v1, m)
			}
		case "cgroup2":
			if v2 == nil {
				v2 = &p.mounts[i]
			}
		}
	}
	return v1, v2
}

// superOpts are the options of a v1 hierarchy that name it (controllers,
// name=...), as a fresh mount of the same hierarchy must repeat them.
func superOpts(m mountInfo) []string {
	var out []string
	for _, o := range strings.Split(m.SuperOpts, ",") {
		if o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent=") {
			continue
		}
		out = append(out, o)
	}
	return out
}

// ownPath returns the init's cgroup in hierarchy h, as a path below h's
// mountpoint.
func (p *planner) ownPath(h mountInfo) (string, error) {
	var names []string
	if h.FSType == "cgroup" {
		names = superOpts(h)
	}
	for _, cg := range p.cgroups {
		ok := false
		if h.FSType == "cgroup2" {
			ok = cg.Controllers == ""
		} else if cg.Controllers != "" {
			ok = true
			for _, c := range strings.Split(cg.Controllers, ",") {
				if !contains(names, c) {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		rel := cg.Path
		// The mount may show a subtree of the hierarchy (its root
		// field); paths in /proc/self/cgroup are from the top.
		if h.Root != "/" && within(rel, h.Root) {
			rel = strings.TrimPrefix(rel, h.Root)
		}
		return path.Join(h.Mountpoint, rel), nil
	}
	return "", fmt.Errorf("the init is in no cgroup of the hierarchy on %q", h.Mountpoint)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// cgroupV1 mounts a "cgroup" entry the way runc does on a v1 or hybrid
// host: a tmpfs on the destination, and in it one directory per
// hierarchy. Inside a cgroup namespace each is a fresh mount of the
// hierarchy, which the kernel roots at the namespace's cgroup; without one,
// it is a bind of the container's own cgroup directory, so the host's tree
// stays hidden. On a hybrid host the cgroup2 hierarchy goes to "unified".
// Merged hierarchies ("cpu,cpuacct") get a symlink per controller.
func (p *planner) cgroupV1(m *config.Mount) error {
	if err := p.load(); err != nil {
		return err
	}
	v1, v2 := p.hierarchies()
	if len(v1) == 0 {
		// A cgroup v2-only host: "cgroup" means its one hierarchy.
		return p.cgroup2(m)
	}
	fd, err := p.r.target(m.Destination, true)
	if err != nil {
		return err
	}
	err = p.sys.Mount("tmpfs", fdPath(fd), "tmpfs", cgroupFlags, "mode=755")
	p.sys.Close(fd)
	if err != nil {
		return fmt.Errorf("mount %q on %q: %w", "tmpfs", m.Destination, err)
	}
	ro := m.Flags & unix.MS_RDONLY
	for _, h := range v1 {
		name := path.Base(h.Mountpoint)
		sub := path.Join(m.Destination, name)
		if err := p.cgroupDir(sub, h, "cgroup", strings.Join(superOpts(h), ","), cgroupFlags|ro); err != nil {
			return err
		}
		if strings.Contains(name, ",") {
			if err := p.cgroupLinks(m.Destination, name); err != nil {
				return err
			}
		}
	}
	if v2 != nil {
		if err := p.cgroupDir(path.Join(m.Destination, "unified"), *v2, "cgroup2", "", cgroupFlags|ro); err != nil {
			return err
		}
	}
	if ro != 0 {
		// The tmpfs was writable while the hierarchy directories were
		// made in it.
		fd, err := p.r.open(m.Destination, unix.O_PATH)
		if err != nil {
			return fmt.Errorf("open %q: %w", m.Destination, err)
		}
		defer p.sys.Close(fd)
		if err := p.sys.Mount("", fdPath(fd), "", unix.MS_REMOUNT|unix.MS_RDONLY|cgroupFlags, "mode=755"); err != nil {
			return fmt.Errorf("remount %q read-only: %w", m.Destination, err)
		}
	}
	return nil
}

// cgroupDir mounts hierarchy h on sub: fresh in a cgroup namespace, else a
// bind of the init's cgroup in it.
func (p *planner) cgroupDir(sub string, h mountInfo, fstype, data string, flags uintptr) error {
	fd, err := p.r.target(sub, true)
	if err != nil {
		return err
	}
	defer p.sys.Close(fd)
	if p.opt.CgroupNS {
		if err := p.sys.Mount(fstype, fdPath(fd), fstype, flags, data); err != nil {
			return fmt.Errorf("mount %q (%s) on %q: %w", fstype, data, sub, err)
		}
		return nil
	}
	src, err := p.ownPath(h)
	if err != nil {
		return err
	}
	sfd, err := p.sys.Openat2(unix.AT_FDCWD, src, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return fmt.Errorf("open cgroup %q: %w", src, err)
	}
	defer p.sys.Close(sfd)
	if err := p.sys.Mount(fdPath(sfd), fdPath(fd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind cgroup %q on %q: %w", src, sub, err)
	}
	return p.remountBind(sub, src, fdPath(sfd), flags|unix.MS_BIND, 0)
}

// cgroupLinks adds cpu -> cpu,cpuacct style links next to a merged
// hierarchy, as the host has them.
func (p *planner) cgroupLinks(dir, name string) error {
	dfd, err := p.r.open(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open %q: %w", dir, err)
	}
	defer p.sys.Close(dfd)
	for _, c := range strings.Split(name, ",") {
		if err := p.sys.Symlinkat(name, dfd, c); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %q -> %q: %w", path.Join(dir, c), name, err)
		}
	}
	return nil
}

// cgroup2 mounts a "cgroup2" entry: a fresh cgroup2 inside a cgroup
// namespace, else a bind of the container's own cgroup2 directory (a fresh
// mount would show the host's whole tree).
func (p *planner) cgroup2(m *config.Mount) error {
	if p.opt.CgroupNS {
		return p.fsMount(&config.Mount{Source: "cgroup2", Destination: m.Destination, Type: "cgroup2", Flags: m.Flags, Data: m.Data})
	}
	if err := p.load(); err != nil {
		return err
	}
	_, v2 := p.hierarchies()
	if v2 == nil {
		return fmt.Errorf("mount cgroup2 on %q: the host has no cgroup2 hierarchy to bind", m.Destination)
	}
	fd, err := p.r.target(m.Destination, true)
	if err != nil {
		return err
	}
	p.sys.Close(fd)
	return p.cgroupDir(m.Destination, *v2, "cgroup2", m.Data, m.Flags|cgroupFlags)
}
