package shim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMemory reports what a shim costs while its container runs: VmRSS,
// split into anonymous memory (each shim's own) and file pages (the
// binary's text and libc, shared by every shim), and Pss, the fair share
// with three shims running. Run with -v to see it.
func TestMemory(t *testing.T) {
	var envs []*env
	for i := 0; i < 3; i++ {
		e := newEnv(t, "sh", "-c", "while true; do echo tick; sleep 0.1; done")
		e.start(t, false, false)
		envs = append(envs, e)
	}
	// The steady state: the shims have trimmed what their start took.
	time.Sleep(time.Second)
	for _, e := range envs {
		status := procFields(t, fmt.Sprintf("/proc/%d/status", e.shimPid), "VmRSS", "RssAnon", "RssFile", "Threads")
		pss := procFields(t, fmt.Sprintf("/proc/%d/smaps_rollup", e.shimPid), "Pss", "Pss_Anon", "Pss_File")
		t.Logf("shim %d: %s; %s", e.shimPid, status, pss)
		// Its only child is the container's init: whatever the runtime
		// left orphaned has been reaped, no zombie waits.
		st, err := e.client.State(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := children(e.shimPid), fmt.Sprint(st.Pid); got != want {
			t.Errorf("shim %d has children %q, want only the init %s", e.shimPid, got, want)
		}
	}
}

// children lists the child pids of pid's threads.
func children(pid int) string {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var all []string
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		all = append(all, strings.Fields(string(b))...)
	}
	return strings.Join(all, " ")
}

// procFields picks "Key: value" lines out of a /proc file.
func procFields(t *testing.T, path string, keys ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range keys {
			if strings.HasPrefix(l, k+":") {
				out = append(out, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return strings.Join(out, ", ")
}

// TestMemoryMaps logs each mapping's Rss of a shim (-v, with
// CAPSA_SHIM_MAPS set): where its memory is.
func TestMemoryMaps(t *testing.T) {
	if os.Getenv("CAPSA_SHIM_MAPS") == "" {
		t.Skip("set CAPSA_SHIM_MAPS")
	}
	e := newEnv(t, "sh", "-c", "while true; do echo tick; sleep 0.1; done")
	e.start(t, false, false)
	time.Sleep(time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", e.shimPid))
	if err != nil {
		t.Fatal(err)
	}
	var head string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			head = l
		}
		if strings.HasPrefix(l, "Rss:") && f[1] != "0" {
			t.Logf("%8s kB  %s", f[1], head)
		}
	}
}
