package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the host's cgroup hierarchies are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// removeCgroups kills what is left in container id's cgroups (/capsa/<id>,
// the path Create gives every container) and removes them. The runtime's
// delete does this when it has the container's state; a container whose
// runtime state is gone (a crash at the wrong time, a wiped run root) has
// no one else to clean up after it. Only capsa's own /capsa/<64 hex>
// cgroups are touched.
func removeCgroups(ctx context.Context, id string) error {
	if !isID(id) {
		return nil
	}
	found, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "capsa", id))
	found = append(found, filepath.Join(cgroupRoot, "capsa", id)) // a pure v2 host
	var dirs []string
	for _, d := range found {
		// Only real cgroups: a directory of that name on another
		// filesystem (a runtime's mkdir under an unmounted hierarchy, in
		// a mount namespace without it) is not one to kill or remove.
		if isCgroup(d) {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	for _, d := range dirs {
		killProcs(d)
	}
	var errs []error
	for _, d := range dirs {
		if err := rmdirRetry(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		// capsa's parent goes with its last container, as the runtime's
		// delete does (another container's, or one being made, keeps it).
		_ = unix.Rmdir(filepath.Dir(d))
	}
	return errors.Join(errs...)
}

// isCgroup reports whether dir is a directory of a cgroup v1 or v2
// filesystem.
func isCgroup(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
}

// killProcs sends SIGKILL to every process listed in dir's cgroup.procs.
// (A process of the container may fork meanwhile: rmdirRetry kills again.)
func killProcs(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			n++
		}
	}
	return n
}

// rmdirRetry removes the cgroup dir once its dying processes have left
// it, for a few seconds.
func rmdirRetry(ctx context.Context, dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		killProcs(dir)
		time.Sleep(10 * time.Millisecond)
	}
}
