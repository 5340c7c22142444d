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
