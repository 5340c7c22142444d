package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The benchmark runs in two processes. The outer one re-executes the binary
// in a new mount namespace and, after it ends, removes the cgroups the
// runtimes left; the inner one hides the cgroup2 mount and runs the
// runtimes.
//
// Why: this host is hybrid (v1 controllers, cgroup2 at
// /sys/fs/cgroup/unified) and crun 1.8 refuses that layout. Without the
// unified mount it sees a plain v1 host. Every runtime runs in that same
// namespace so that they all do the same cgroup work. The cleanup runs
// outside it because the unified hierarchy is only visible there.
const (
	innerEnv  = "CAPSA_BENCH_INNER" // set in the inner process to the run tag
	unified   = "/sys/fs/cgroup/unified"
	cgroupTop = "capsa-bench" // the parent of every container cgroup
)

// runOuter re-executes this binary in a new mount namespace with tag, waits
// for it, removes the cgroups named after tag and returns its exit code.
func runOuter(tag string) int {
	// Ctrl-C reaches the inner process through the process group; the outer
	// one stays to clean up. (Catching rather than ignoring the signal, so
	// that the child does not inherit SIG_IGN.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"="+tag)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "runlatency: re-execute in a mount namespace: %v\n", err)
		}
		code = 1
	}
	if err := removeCgroups(tag); err != nil {
		fmt.Fprintf(os.Stderr, "runlatency: %v\n", err)
		code = 1
	}
	return code
}

// enterPrivateMounts makes every mount in this (new) namespace private, so
// that nothing below propagates to the host, and unmounts the cgroup2
// hierarchy of a hybrid host.
func enterPrivateMounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	mounted, err := isMountPoint(unified)
	if err != nil || !mounted {
		return err
	}
	if err := unix.Unmount(unified, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", unified, err)
	}
	return nil
}

func isMountPoint(path string) (bool, error) {
	mps, err := cgroupMounts()
	if err != nil {
		return false, err
	}
	for _, m := range mps {
		if m == path {
			return true, nil
		}
	}
	return false, nil
}

// cgroupMounts lists the mount points of every cgroup and cgroup2 hierarchy
// in this mount namespace.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) {
				if t := fields[i+1]; t == "cgroup" || t == "cgroup2" {
					out = append(out, fields[4])
				}
				break
			}
		}
	}
	return out, sc.Err()
}

// removeCgroups removes, in every hierarchy, the container cgroups under
// capsa-bench whose names start with tag (runtimes that remove their own leave
// none), then capsa-bench itself if it is empty. Only rmdir: a cgroup that
// still holds a task stays and is reported.
func removeCgroups(tag string) error {
	mps, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mps {
		top := filepath.Join(mp, cgroupTop)
		entries, err := os.ReadDir(top)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), tag+"-") {
				if err := rmdirTree(filepath.Join(top, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
		// Another benchmark's cgroups may still be in it: then it stays.
		if err := unix.Rmdir(top); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", top, err))
		}
	}
	return errors.Join(errs...)
}

// rmdirTree removes a cgroup directory and the cgroups below it, deepest
// first. The files in a cgroup directory are not removable and vanish with it.
func rmdirTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}
