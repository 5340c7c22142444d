// Package benchhost holds what the benchmarks share about the host they
// run on: its mount points (through internal/mountinfo) and the removal of
// the cgroups a benchmark left under its own parent.
package benchhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/mountinfo"
)

// Mounts are the mounts of this mount namespace.
func Mounts() ([]mountinfo.Mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return mountinfo.Parse(b), nil
}

// IsMountPoint reports whether path is a mount point here.
func IsMountPoint(path string) (bool, error) {
	ms, err := Mounts()
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.Mountpoint == path {
			return true, nil
		}
	}
	return false, nil
}

// RemoveCgroups removes, in every cgroup hierarchy, the cgroups under the
// parent top (a name like "capsa-bench") whose names start with tag+"-",
// then top itself if it is empty. Only rmdir: a cgroup that still holds a
// task stays and is reported.
func RemoveCgroups(top, tag string) error {
	ms, err := Mounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		dir := filepath.Join(m.Mountpoint, top)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), tag+"-") {
				if err := RmdirTree(filepath.Join(dir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
		// Another benchmark's cgroups may still be in it: then it stays.
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// RmdirTree removes a cgroup directory and the cgroups below it, deepest
// first. The files in a cgroup directory are not removable and vanish
// with it.
func RmdirTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := RmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// HideUnified replaces, in this (private) mount namespace, the cgroup2
// mount at dir (/sys/fs/cgroup/unified) with an empty tmpfs: a pure v1
// layout, which runtimes that refuse this host's hybrid one (crun 1.8)
// accept. The tmpfs, and not the bare directory under the mount, takes
// what crun still writes there (it makes /capsa/<id>/cgroup.procs files
// where the v2 hierarchy was): they go with the namespace instead of
// piling up, unseen, in the host's /sys/fs/cgroup.
func HideUnified(dir string) error {
	mounted, err := IsMountPoint(dir)
	if err != nil || !mounted {
		return err
	}
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=1m"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}
