package oci

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultMounts are the filesystems Docker mounts in every container.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		// Docker's --shm-size default: 64 MiB.
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
}

// WithRootfs sets the container's root filesystem.
func WithRootfs(path string, readonly bool) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if path == "" {
			return flagErr("--rootfs", path, "empty path")
		}
		s.Root = &specs.Root{Path: path, Readonly: readonly}
		return nil
	}
}

// WithReadonlyRootfs mounts the root filesystem read-only (--read-only).
func WithReadonlyRootfs(on bool) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if s.Root == nil {
			s.Root = &specs.Root{Path: "rootfs"}
		}
		s.Root.Readonly = on
		return nil
	}
}

// setMount puts m in s.Mounts, replacing a mount on the same
// destination: a user's mount wins over a default one, as in Docker.
func setMount(s *specs.Spec, m specs.Mount) {
	out := s.Mounts[:0]
	for _, o := range s.Mounts {
		if filepath.Clean(o.Destination) != m.Destination {
			out = append(out, o)
		}
	}
	s.Mounts = append(out, m)
}

func checkDest(flag, value, dst string) (string, error) {
	if !filepath.IsAbs(dst) {
		return "", flagErr(flag, value, "destination %q is not an absolute path", dst)
	}
	dst = filepath.Clean(dst)
	if dst == "/" {
		return "", flagErr(flag, value, "destination can't be '/'")
	}
	return dst, nil
}

// WithBindMount binds host path src at dst (-v src:dst[:ro]), recursively
// and private, as Docker does.
func WithBindMount(src, dst string, readonly bool) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		v := src + ":" + dst
		if !filepath.IsAbs(src) {
			return flagErr("--volume", v, "source %q is not an absolute path", src)
		}
		d, err := checkDest("--volume", v, dst)
		if err != nil {
			return err
		}
		mode := "rw"
		if readonly {
			mode = "ro"
		}
		setMount(s, specs.Mount{Destination: d, Type: "bind", Source: filepath.Clean(src), Options: []string{"rbind", "rprivate", mode}})
		return nil
	}
}

// tmpfsDefaults are the options of a --tmpfs mount before the user's.
var tmpfsDefaults = []string{"noexec", "nosuid", "nodev"}

// opposite maps a mount flag to the one it cancels.
var opposite = map[string]string{
	"exec": "noexec", "noexec": "exec",
	"suid": "nosuid", "nosuid": "suid",
	"dev": "nodev", "nodev": "dev",
	"ro": "rw", "rw": "ro",
}

// WithTmpfs mounts a tmpfs at dst (--tmpfs dst[:options]); options is a
// comma-separated list merged over Docker's defaults (noexec, nosuid,
// nodev): "exec" replaces "noexec", and so on.
func WithTmpfs(dst, options string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		v := dst
		if options != "" {
			v += ":" + options
		}
		d, err := checkDest("--tmpfs", v, dst)
		if err != nil {
			return err
		}
		opts := append([]string(nil), tmpfsDefaults...)
		if options != "" {
			for _, o := range strings.Split(options, ",") {
				if o == "" {
					return flagErr("--tmpfs", v, "empty mount option")
				}
				if k, val, ok := strings.Cut(o, "="); ok && (k == "size" || k == "mode") && val == "" {
					return flagErr("--tmpfs", v, "option %q has no value", k)
				}
				out := opts[:0]
				for _, prev := range opts {
					if prev != o && prev != opposite[o] && !sameKey(prev, o) {
						out = append(out, prev)
					}
				}
				opts = append(out, o)
			}
		}
		setMount(s, specs.Mount{Destination: d, Type: "tmpfs", Source: "tmpfs", Options: opts})
		return nil
	}
}

// sameKey reports whether a and b are key=value options with one key.
func sameKey(a, b string) bool {
	ka, _, oka := strings.Cut(a, "=")
	kb, _, okb := strings.Cut(b, "=")
	return oka && okb && ka == kb
}

// SortMounts orders s.Mounts so that a mount comes after every mount on
// a parent of its destination (by the count of the destination's path
// elements, keeping the given order among equals), as Docker sorts them:
// a volume on /a added after a bind on /a/b would otherwise hide the bind.
func SortMounts(s *specs.Spec) {
	slices.SortStableFunc(s.Mounts, func(a, b specs.Mount) int {
		return mountDepth(a.Destination) - mountDepth(b.Destination)
	})
}

func mountDepth(dst string) int {
	dst = filepath.Clean(dst)
	if dst == "/" {
		return 0
	}
	return strings.Count(dst, "/")
}
