package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/capsa-dev/capsa/bench/internal/benchhost"
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
	if err := benchhost.RemoveCgroups(cgroupTop, tag); err != nil {
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
	return benchhost.HideUnified(unified)
}
