package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoveWithoutRuntimeState: a container whose shim died and whose
// runtime state is gone (a crash at the wrong time, a wiped run root) is
// removed with its processes and its cgroups; they used to stay, as only
// the runtime's delete, which needs that state, removed them.
func TestRemoveWithoutRuntimeState(t *testing.T) {
	v := newEnv(t)
	v.importBusybox()
	c := v.run("lost", "sleep", "1000")
	st := v.status(c.ID)
	if st.Pid == 0 || st.ShimPid == 0 {
		t.Fatalf("status %+v: no pids", st)
	}
	if err := syscall.Kill(st.ShimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(v.cfg.RunRoot, "runtime", "capsa", c.ID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.e.Remove(ctx, c.ID, true); err != nil {
		t.Fatalf("remove: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(st.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the container's process %d still runs after its removal", st.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dirs, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/" + c.ID); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
}

// alive reports whether pid runs (a zombie, dead and waiting for its
// reaper, does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
