package oci

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// WithPrivileged makes the container --privileged: every capability, no
// seccomp filter (even beside --security-opt seccomp=...), nothing masked
// or read-only in /proc and /sys, /sys and /sys/fs/cgroup writable, and
// every host device present and allowed.
func WithPrivileged() SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		devs, err := HostDevices()
		if err != nil {
			return err
		}
		if g := fromContext(ctx); g != nil {
			g.privileged = true
		} else {
			setCaps(s, AllCapabilities())
			if s.Linux != nil {
				s.Linux.Seccomp = nil
			}
		}
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
		for i := range s.Mounts {
			m := &s.Mounts[i]
			if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
				var opts []string
				for _, o := range m.Options {
					if o != "ro" {
						opts = append(opts, o)
					}
				}
				m.Options = append(opts, "rw")
			}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.Devices = devs
		return nil
	}
}

// HostDevices lists the host's device nodes under /dev, for a privileged
// container. The runtime's own /dev entries (the pty multiplexer, the
// console, devpts and the shm, mqueue and fd directories) are left out.
func HostDevices() ([]specs.LinuxDevice, error) {
	skipDirs := map[string]bool{"/dev/pts": true, "/dev/shm": true, "/dev/mqueue": true, "/dev/fd": true}
	skipFiles := map[string]bool{"/dev/console": true, "/dev/ptmx": true}
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "/dev" {
				return err
			}
			return nil // a node that vanished or a directory we cannot read
		}
		if d.IsDir() {
			if skipDirs[p] || (p != "/dev" && d.Name()[0] == '.') {
				return filepath.SkipDir
			}
			return nil
		}
		if skipFiles[p] || d.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		typ := "b"
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			typ = "c"
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{
			Path: p, Type: typ,
			Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
