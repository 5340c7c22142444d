package shim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemory reports what a shim costs while its container runs, used as
// the engine uses it: started with --wait-start, then start and state
// requests, and a wait request held open (the engine's monitor). For each
// figure it logs the median over the shims: VmRSS, split into anonymous
// memory (each shim's own) and file pages (the binary's, shared by every
// shim), the thread count, and Pss, the fair share with all of them
// running. CAPSA_SHIM_MEMORY_N sets how many shims run (3 by default).
// Run with -v to see it.
func TestMemory(t *testing.T) {
	n := 3
	if v := os.Getenv("CAPSA_SHIM_MEMORY_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("CAPSA_SHIM_MEMORY_N=%q: want a count", v)
		}
	}
	var envs []*env
	for i := 0; i < n; i++ {
		e := newEnv(t, "sh", "-c", "while true; do echo tick; sleep 0.1; done")
		cfg := e.config(false, false)
		cfg.WaitStart = true
		e.startWith(t, cfg)
		if _, err := e.client.Start(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.State(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		// The engine's monitor: a wait held until the container exits.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = e.client.Wait(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		envs = append(envs, e)
	}
	// The steady state: the shims have trimmed what their start took, and
	// answered requests since.
	time.Sleep(2 * time.Second)
	keys := []string{"VmRSS", "RssAnon", "RssFile", "Threads", "Pss", "Pss_Anon", "Pss_File"}
	vals := make(map[string][]int)
	for _, e := range envs {
		status := procFields(t, fmt.Sprintf("/proc/%d/status", e.shimPid), keys[:4]...)
		pss := procFields(t, fmt.Sprintf("/proc/%d/smaps_rollup", e.shimPid), keys[4:]...)
		if testing.Verbose() && n <= 5 {
			t.Logf("shim %d: %s; %s", e.shimPid, status, pss)
		}
		for _, kv := range strings.Split(status+", "+pss, ", ") {
			k, v, _ := strings.Cut(kv, ": ")
			x, _ := strconv.Atoi(strings.Fields(v + " 0")[0])
			vals[k] = append(vals[k], x)
		}
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
	var med []string
	for _, k := range keys {
		v := vals[k]
		slices.Sort(v)
		unit := " kB"
		if k == "Threads" {
			unit = ""
		}
		med = append(med, fmt.Sprintf("%s %d%s", k, v[len(v)/2], unit))
	}
	t.Logf("median of %d shims: %s", n, strings.Join(med, ", "))
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
