package daemon_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// leakCycles is how many create/start/stop/rm cycles TestNoLeak runs:
// $CAPSA_LEAK_CYCLES, or 200.
func leakCycles(t *testing.T) int {
	if s := os.Getenv("CAPSA_LEAK_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CAPSA_LEAK_CYCLES=%q: want a count", s)
		}
		return n
	}
	return 200
}

// TestNoLeak runs containers through create, start, stop -t 0 and rm
// over the API, and checks that nothing of them stays: no mount, cgroup,
// shim, state or bundle directory, runtime state or record, and that
// capsad's open files, threads and memory do not grow with the count.
func TestNoLeak(t *testing.T) {
	// capsad's goroutines are counted from its stack dump on SIGQUIT.
	t.Setenv("GOTRACEBACK", "all")
	d := daemontest.Start(t)
	d.ImportBusybox()
	cl := apiClient(t, d)
	ctx := context.Background()
	cycle := func(i int) string {
		res, err := cl.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "1000"}},
			Name:   fmt.Sprintf("leak%d", i),
		})
		if err != nil {
			t.Fatalf("cycle %d: create: %v", i, err)
		}
		if _, err := cl.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("cycle %d: start: %v", i, err)
		}
		zero := 0
		if _, err := cl.ContainerStop(ctx, res.ID, client.ContainerStopOptions{Timeout: &zero}); err != nil {
			t.Fatalf("cycle %d: stop: %v", i, err)
		}
		if _, err := cl.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{}); err != nil {
			t.Fatalf("cycle %d: rm: %v", i, err)
		}
		return res.ID
	}
	// A warm-up: the first containers grow caches and pools that then
	// stay the same size.
	var ids []string
	for i := range 10 {
		ids = append(ids, cycle(i))
	}
	before := settledStatus(t, d.Pid())
	n := leakCycles(t)
	start := time.Now()
	for i := range n {
		ids = append(ids, cycle(10+i))
	}
	el := time.Since(start)
	t.Logf("%d create/start/stop/rm cycles in %v (%v each)", n, el.Round(time.Millisecond), (el / time.Duration(n)).Round(time.Microsecond))
	after := settledStatus(t, d.Pid())
	t.Logf("capsad before: %+v, after: %+v", before, after)
	checkNothingLeft(t, d, ids)
	checkGrowth(t, before, after, 4)
	if g := goroutines(t, d); g > maxIdleGoroutines {
		t.Errorf("capsad has %d goroutines with no container left, want at most %d", g, maxIdleGoroutines)
	} else {
		t.Logf("capsad has %d goroutines after the cycles", g)
	}
}

// maxIdleGoroutines bounds the goroutines of a capsad with no container:
// a leak of one per container would show after 200 of them.
const maxIdleGoroutines = 40

// goroutines counts capsad's goroutines: it makes capsad dump its stacks
// and exit (SIGQUIT, with GOTRACEBACK=all in its environment), then
// starts it again.
func goroutines(t *testing.T, d *daemontest.Daemon) int {
	t.Helper()
	off := len(d.LogText())
	pid := d.Pid()
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(10*time.Second, func() bool { return !alive(pid) }) {
		t.Fatalf("capsad did not exit on SIGQUIT")
	}
	d.Kill9() // reaps it
	dump := d.LogText()[off:]
	n := strings.Count(dump, "\ngoroutine ")
	if n == 0 {
		t.Fatalf("no goroutine in capsad's dump: %q", tailString(dump, 2000))
	}
	d.Restart()
	return n
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// settledStatus is capsad's /proc status once a moment has passed for
// connections and goroutines of the last requests to end.
func settledStatus(t *testing.T, pid int) procStatus {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	return readProcStatus(t, pid)
}

// checkGrowth fails if capsad holds more files, more than threadSlack
// more threads, or much more memory than before: a leak per container
// would show as growth with the count. The Go runtime keeps every thread
// it made for blocking system calls, so the thread count follows the
// peak of concurrent calls, not the number of containers.
func checkGrowth(t *testing.T, before, after procStatus, threadSlack int) {
	t.Helper()
	if after.FDs > before.FDs+2 {
		t.Errorf("capsad's open files grew from %d to %d", before.FDs, after.FDs)
	}
	if after.Threads > before.Threads+threadSlack {
		t.Errorf("capsad's threads grew from %d to %d", before.Threads, after.Threads)
	}
	if after.RSSKiB > before.RSSKiB+16*1024 {
		t.Errorf("capsad's RSS grew from %d KiB to %d KiB", before.RSSKiB, after.RSSKiB)
	}
}

// TestParallelRuns: concurrent run --rm and run -d with rm -f all succeed
// and leave nothing.
func TestParallelRuns(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	// The first round grows capsad's threads to the peak of its
	// concurrent system calls, and the Go runtime keeps them; a later
	// round with a higher peak adds a few. A thread leaked per container
	// would add 40 over the next two rounds of 20 containers each.
	parallelRound(t, d)
	before := settledStatus(t, d.Pid())
	parallelRound(t, d)
	parallelRound(t, d)
	checkGrowth(t, before, settledStatus(t, d.Pid()), 20)
}

func parallelRound(t *testing.T, d *daemontest.Daemon) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for i := range 10 {
		wg.Go(func() {
			if r := d.Capsa("run", "--rm", "busybox", "true"); r.Code != 0 {
				fail("run --rm %d: %v", i, r)
			}
		})
	}
	ids := make([]string, 10)
	for i := range 10 {
		wg.Go(func() {
			r := d.Capsa("run", "-d", "busybox", "sleep", "1000")
			if r.Code != 0 {
				fail("run -d %d: %v", i, r)
				return
			}
			ids[i] = strings.TrimSpace(r.Stdout)
			if r := d.Capsa("rm", "-f", ids[i]); r.Code != 0 {
				fail("rm -f %d: %v", i, r)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	// run --rm returns when the container is gone.
	checkNothingLeft(t, d, ids)
}

// TestConcurrentOpsOnOneContainer: stop, start, restart, kill, rm -f and
// inspect of one container at once end in a sane state and leave nothing
// once it is removed; of parallel creates with one name exactly one wins.
func TestConcurrentOpsOnOneContainer(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	var ids []string
	for round := range 5 {
		id := d.MustCapsa("run", "-d", "busybox", "sleep", "1000")
		ids = append(ids, id)
		var wg sync.WaitGroup
		for _, args := range [][]string{
			{"stop", "-t", "0", id}, {"start", id}, {"restart", "-t", "0", id}, {"kill", id},
			{"inspect", id}, {"ps", "-a"}, {"start", id}, {"stop", "-t", "1", id},
		} {
			wg.Go(func() { d.Capsa(args...) })
		}
		if round%2 == 1 {
			wg.Go(func() { d.Capsa("rm", "-f", id) })
		}
		wg.Wait()
		if r := d.Capsa("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", id); r.Code == 0 {
			st, pidStr, _ := strings.Cut(strings.TrimSpace(r.Stdout), " ")
			pid, _ := strconv.Atoi(pidStr)
			switch st {
			case "running":
				if !alive(pid) {
					t.Errorf("round %d: running with pid %d, which is not alive", round, pid)
				}
			case "exited", "created":
			default:
				t.Errorf("round %d: container is %s", round, st)
			}
			if shims := d.Shims(); st == "running" && len(shims) != 1 || st != "running" && !waitUntil(2*time.Second, func() bool { return len(d.Shims()) == 0 }) {
				t.Errorf("round %d: %s with shims %v", round, st, d.Shims())
			}
		}
		d.Capsa("rm", "-f", id)
	}
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Go(func() { codes[i] = d.Capsa("create", "--name", "same", "busybox", "true").Code })
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		if c == 0 {
			won++
		}
	}
	if won != 1 {
		t.Errorf("parallel creates of one name: exit codes %v, want exactly one 0", codes)
	}
	ids = append(ids, d.IDs()...)
	d.MustCapsa("rm", "same")
	checkNothingLeft(t, d, ids)
}
