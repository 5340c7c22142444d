package oci

import (
	"context"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithHostNetwork removes the network namespace, and binds the host's
// /sys, since sysfs cannot be mounted without a network namespace of
// one's own.
func WithHostNetwork() SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if s.Linux != nil {
			ns := s.Linux.Namespaces[:0]
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.NetworkNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}
		for i, m := range s.Mounts {
			if m.Destination == "/sys" {
				s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
					Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
		return nil
	}
}

// WithShmSize sets the size of /dev/shm.
func WithShmSize(n int64) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				opts := m.Options[:0:0]
				for _, o := range m.Options {
					if !strings.HasPrefix(o, "size=") {
						opts = append(opts, o)
					}
				}
				s.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(n, 10))
			}
		}
		return nil
	}
}

// WithUnmaskedPaths drops the masked and read-only /proc paths
// (--security-opt systempaths=unconfined).
func WithUnmaskedPaths() SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if s.Linux != nil {
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		}
		return nil
	}
}

// WithNetworkNamespace makes the container join the network namespace at
// path (one the engine made and networked, or another container's).
func WithNetworkNamespace(path string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = path
				return nil
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
		return nil
	}
}
