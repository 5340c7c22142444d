package cgroup

// The v2 tests check what a user of a unified host sees: limits enforced
// on real processes, not only the values written. They need root and a
// cgroup2 root that offers the memory and pids controllers, with no v1
// hierarchy beside it; elsewhere they skip. `make test-cgroup2` runs them
// in a virtual machine that has exactly that (test/cgroup2): there this
// test binary is the machine's init, and TestMain prepares the machine
// before running them.
//
// The workloads are this binary re-executed with v2WorkloadEnv set. Each
// waits for a line on its stdin before it starts, so that it runs only
// once it is in the cgroup: memory charged before a move stays with the
// old cgroup on v2.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	// v2WorkloadEnv names the workload a re-executed test binary runs.
	v2WorkloadEnv = "CAPSA_V2TEST_WORKLOAD"
	// The lines the harness in test/cgroup2 looks for on the console.
	v2InitMarker = "CAPSA-CGROUP2-INIT"
	v2PassMarker = "CAPSA-CGROUP2-RESULT: PASS"
	v2FailMarker = "CAPSA-CGROUP2-RESULT: FAIL"
)

func TestMain(m *testing.M) {
	if w := os.Getenv(v2WorkloadEnv); w != "" {
		os.Exit(runV2Workload(w))
	}
	if os.Getpid() == 1 {
		os.Exit(runAsVMInit(m))
	}
	os.Exit(m.Run())
}

// runAsVMInit is the test binary as the init of test/cgroup2's machine:
// it mounts what the tests read, enables every controller at the root as
// systemd does on a unified host, runs the tests, prints the result
// marker and powers the machine off. It returns only if the power-off
// fails; init's exit then panics the kernel, which stops qemu too.
func runAsVMInit(m *testing.M) int {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	fmt.Printf("%s: kernel %s, %d CPUs\n", v2InitMarker, unix.ByteSliceToString(uts.Release[:]), runtime.NumCPU())
	code := 1
	if err := prepareVM(); err != nil {
		fmt.Printf("prepare the machine: %v\n", err)
	} else {
		code = m.Run()
	}
	if code == 0 {
		fmt.Println(v2PassMarker)
	} else {
		fmt.Printf("%s (exit %d)\n", v2FailMarker, code)
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("power off: %v\n", err)
	}
	return code
}

func prepareVM() error {
	// The kernel starts init with no PATH; the harness puts busybox's
	// applets in /bin.
	os.Setenv("PATH", "/bin")
	for _, mnt := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	} {
		if err := os.MkdirAll(mnt.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(mnt.src, mnt.dir, mnt.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", mnt.fstype, mnt.dir, err)
		}
	}
	// brd gives the io controller a block device (/dev/ram0) to limit.
	if ko, err := filepath.Glob("/modules/*.ko"); err == nil {
		for _, p := range ko {
			if err := loadModule(p, "rd_nr=1 rd_size=4096"); err != nil {
				fmt.Printf("load %s: %v (the tests that need it skip)\n", p, err)
			}
		}
	}
	ctrls, err := readFile("/sys/fs/cgroup", "cgroup.controllers")
	if err != nil {
		return err
	}
	fmt.Printf("cgroup2 controllers: %s\n", ctrls)
	for _, c := range strings.Fields(ctrls) {
		if err := writeFile("/sys/fs/cgroup", "cgroup.subtree_control", "+"+c); err != nil {
			return err
		}
	}
	return nil
}

func loadModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.FinitModule(int(f.Fd()), params, 0)
}

// requireV2 skips t unless this host is unified with the controllers the
// tests need, and the test runs as root.
func requireV2(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	hs, err := hostHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	if hs.v2 == "" {
		t.Skip("no cgroup2 hierarchy")
	}
	if len(hs.v1) > 0 {
		t.Skipf("not a unified host: v1 hierarchies are mounted, so the manager drives v1 (run make test-cgroup2)")
	}
	ctrls, err := readFile(hs.v2, "cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids"} {
		if !hasField(ctrls, c) {
			t.Skipf("the cgroup2 root at %s offers no %s controller (cgroup.controllers: %q)", hs.v2, c, ctrls)
		}
	}
	return hs.v2
}

func hasField(s, f string) bool {
	for _, x := range strings.Fields(s) {
		if x == f {
			return true
		}
	}
	return false
}

// newV2 creates the cgroup /capsa/v2test-<name> with r set, and removes it
// when t ends.
func newV2(t *testing.T, name string, r *specs.LinuxResources) Manager {
	t.Helper()
	requireV2(t)
	m, err := New(Config{Path: "/capsa/v2test-" + name, Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	if !m.State().V2Controllers {
		t.Fatalf("State().V2Controllers = false on a unified host, want true")
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Kill(unix.SIGKILL)
		if err := m.Destroy(context.Background()); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	if r != nil {
		if err := m.Set(r); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// workload is a re-executed test binary running one of runV2Workload's
// loads.
type workload struct {
	cmd   *exec.Cmd
	start *os.File
	lines chan string
	done  chan struct{}
	state *os.ProcessState
	err   error
}

// startWorkload starts the load name, stopped until release. sys, if
// set, is the child's SysProcAttr.
func startWorkload(t *testing.T, name string, sys *syscall.SysProcAttr) *workload {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), v2WorkloadEnv+"="+name,
		// The fork load must not need a new thread once pids.max is
		// reached: the Go runtime aborts when it cannot make one.
		"GOMAXPROCS=1", "GOGC=off")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.SysProcAttr = sys
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatalf("start workload %s: %v", name, err)
	}
	w := &workload{cmd: cmd, start: inW, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(w.lines)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		w.err = cmd.Wait()
		w.state = cmd.ProcessState
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		inW.Close()
	})
	return w
}

func (w *workload) pid() int { return w.cmd.Process.Pid }

// release lets the workload start its load.
func (w *workload) release(t *testing.T) {
	t.Helper()
	if _, err := w.start.WriteString("go\n"); err != nil {
		t.Fatalf("release workload: %v", err)
	}
}

// line returns the workload's next line of output, or fails t after d.
func (w *workload) line(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("workload %d closed its output without the line expected", w.pid())
		}
		return l
	case <-time.After(d):
		t.Fatalf("no output from workload %d after %v", w.pid(), d)
	}
	return ""
}

// wait returns how the workload ended, or fails t after d.
func (w *workload) wait(t *testing.T, d time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-w.done:
		return w.state
	case <-time.After(d):
		t.Fatalf("workload %d still runs after %v", w.pid(), d)
	}
	return nil
}

func killedBy(ps *os.ProcessState, sig syscall.Signal) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// runV2Workload is the re-executed test binary: it waits for the start
// line, then runs the load.
func runV2Workload(name string) int {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 3
	}
	switch name {
	case "mem":
		// 64 MiB, every page touched, all of it kept.
		var keep [][]byte
		for i := 0; i < 64; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MiB\n", len(keep))
		return 0
	case "fork":
		return forkLoad()
	case "spin":
		fmt.Println("spinning")
		for {
			spinSink.Add(1)
		}
	case "count":
		for n := 1; ; n++ {
			fmt.Println(n)
			time.Sleep(10 * time.Millisecond)
		}
	case "sleep":
		fmt.Println("sleeping")
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown workload %q\n", name)
	return 2
}

var spinSink atomic.Uint64

// forkLoad forks until fork fails, reports how many children it made and
// the error, then waits to be killed. It forks with the raw system call,
// without exec: each child only pauses, running no Go code that needs the
// runtime (as in syscall's forkAndExecInChild). Fork, not a new Go
// process, so that each success is one task and the count is exact.
func forkLoad() int {
	runtime.LockOSThread()
	debug.SetGCPercent(-1)
	n := 0
	var errno syscall.Errno
	for ; n < 1000; n++ {
		pid, _, e := syscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)
		if e != 0 {
			errno = e
			break
		}
		if pid == 0 {
			for {
				syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}
	}
	fmt.Printf("forked %d errno %d\n", n, int(errno))
	for {
		syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
	}
}

// reapOrphans waits for the zombies reparented to this process when it
// is PID 1 (the fork load's children, once it is killed). Call it only
// when no workload of the test is still waited for.
func reapOrphans() {
	if os.Getpid() != 1 {
		return
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func readV2(t *testing.T, m Manager, file string) string {
	t.Helper()
	s, err := readFile(m.State().V2, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestV2MemoryOOM(t *testing.T) {
	const limit = 32 << 20
	m := newV2(t, "memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(limit))}})
	if got := readV2(t, m, "memory.max"); got != strconv.Itoa(limit) {
		t.Fatalf("memory.max = %q, want %d", got, limit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ooms, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorkload(t, "mem", nil)
	if err := m.Apply(w.pid()); err != nil {
		t.Fatal(err)
	}
	w.release(t)
	ps := w.wait(t, 60*time.Second)
	if !killedBy(ps, unix.SIGKILL) {
		t.Fatalf("a process touching 64 MiB under memory.max %d ended with %v, want killed by SIGKILL", limit, ps)
	}
	select {
	case _, ok := <-ooms:
		if !ok {
			t.Fatal("OOMEvents closed without an event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OOM event 10s after the OOM kill")
	}
	ev, err := readKeyValues(m.State().V2, "memory.events")
	if err != nil {
		t.Fatal(err)
	}
	if ev["oom_kill"] == "0" || ev["oom_kill"] == "" {
		t.Errorf("memory.events oom_kill = %q, want > 0", ev["oom_kill"])
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Failcnt == 0 {
		t.Errorf("Stats().Memory.Usage.Failcnt = 0 after an OOM kill, want > 0 (memory.events: %v)", ev)
	}
	if st.Memory.Usage.Limit != limit {
		t.Errorf("Stats().Memory.Usage.Limit = %d, want %d", st.Memory.Usage.Limit, limit)
	}
}

// TestV2OOMEventsEnd checks the end of OOMEvents' channel: it is closed
// once ctx ends, and once the cgroup is removed.
func TestV2OOMEventsEnd(t *testing.T) {
	m := newV2(t, "oomend", nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("OOMEvents delivered an event after ctx ended, with no OOM")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("OOMEvents' channel still open 5s after ctx ended, want closed")
	}

	ch, err = m.OOMEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("OOMEvents delivered an event on Destroy, with no OOM")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("OOMEvents' channel still open 5s after Destroy, want closed")
	}
}

func TestV2PidsLimit(t *testing.T) {
	const limit = 16
	m := newV2(t, "pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(limit))}})
	defer reapOrphans()
	w := startWorkload(t, "fork", nil)
	if err := m.Apply(w.pid()); err != nil {
		t.Fatal(err)
	}
	w.release(t)
	var forked, errno int
	if l := w.line(t, 60*time.Second); func() bool { _, err := fmt.Sscanf(l, "forked %d errno %d", &forked, &errno); return err != nil }() {
		t.Fatalf("fork load printed %q", l)
	}
	if syscall.Errno(errno) != syscall.EAGAIN {
		t.Fatalf("fork load: %d forks then errno %d (%v), want EAGAIN at pids.max %d", forked, errno, syscall.Errno(errno), limit)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	threads := countThreads(t, w.pid())
	t.Logf("forked %d, the loader has %d threads, pids.current %d", forked, threads, st.Pids.Current)
	if st.Pids.Current > limit || st.Pids.Current == 0 {
		t.Errorf("Stats().Pids.Current = %d, want 1..%d", st.Pids.Current, limit)
	}
	if got := forked + threads; got != limit {
		t.Errorf("forks + the loader's threads = %d + %d, want pids.max %d", forked, threads, limit)
	}
	if st.Pids.Limit != limit {
		t.Errorf("Stats().Pids.Limit = %d, want %d", st.Pids.Limit, limit)
	}
	ev, err := readKeyValues(m.State().V2, "pids.events")
	if err != nil {
		t.Fatal(err)
	}
	if ev["max"] == "0" || ev["max"] == "" {
		t.Errorf("pids.events max = %q, want > 0", ev["max"])
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 30*time.Second)
}

func countThreads(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestV2CPUQuota(t *testing.T) {
	if ctrls, _ := readFile(requireV2(t), "cgroup.controllers"); !hasField(ctrls, "cpu") {
		t.Skip("the cgroup2 root offers no cpu controller")
	}
	m := newV2(t, "cpu", &specs.LinuxResources{CPU: &specs.LinuxCPU{
		Quota: ptr(int64(20000)), Period: ptr(uint64(100000)), Shares: ptr(uint64(1024)),
	}})
	for file, want := range map[string]string{"cpu.max": "20000 100000", "cpu.weight": "39"} {
		if got := readV2(t, m, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	w := startWorkload(t, "spin", nil)
	if err := m.Apply(w.pid()); err != nil {
		t.Fatal(err)
	}
	w.release(t)
	w.line(t, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	usage := func() (uint64, time.Time) {
		st, err := readUintMap(m.State().V2, "cpu.stat")
		if err != nil {
			t.Fatal(err)
		}
		return st["usage_usec"], time.Now()
	}
	u0, t0 := usage()
	time.Sleep(2 * time.Second)
	u1, t1 := usage()
	share := float64(u1-u0) / float64(t1.Sub(t0).Microseconds())
	t.Logf("a busy loop under cpu.max 20000 100000 used %.1f %% of a CPU", share*100)
	if share < 0.10 || share > 0.30 {
		t.Errorf("CPU share = %.1f %%, want 20 ±10 %%", share*100)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Throttling.ThrottledPeriods == 0 {
		t.Errorf("Stats().CPU.Throttling.ThrottledPeriods = 0 for a busy loop over its quota, want > 0")
	}
}

func TestV2FreezeThaw(t *testing.T) {
	m := newV2(t, "freeze", nil)
	w := startWorkload(t, "count", nil)
	if err := m.Apply(w.pid()); err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for l := range w.lines {
			if n, err := strconv.ParseInt(l, 10, 64); err == nil {
				last.Store(n)
			}
		}
	}()
	w.release(t)
	waitFor(t, 30*time.Second, "the counter to start", func() bool { return last.Load() > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("FreezerState() after Freeze = %q, %v; want %q", s, err, Frozen)
	}
	// What the counter wrote before it froze may still be in the pipe.
	time.Sleep(200 * time.Millisecond)
	n0 := last.Load()
	time.Sleep(time.Second)
	if n1 := last.Load(); n1 != n0 {
		t.Fatalf("the counter went from %d to %d while frozen", n0, n1)
	}
	if err := m.Thaw(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := m.FreezerState(); err != nil || s != Thawed {
		t.Fatalf("FreezerState() after Thaw = %q, %v; want %q", s, err, Thawed)
	}
	waitFor(t, 30*time.Second, "the counter to resume", func() bool { return last.Load() > n0 })
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestV2KillDestroy kills and removes a cgroup as `capsa-runtime kill`
// and `delete` do: from the state another process recorded, with a
// process in a nested cgroup that the container made itself.
func TestV2KillDestroy(t *testing.T) {
	requireV2(t)
	m, err := New(Config{Path: "/capsa/v2test-kill"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = m.Kill(unix.SIGKILL)
			_ = m.Destroy(context.Background())
		}
	})
	st := m.State()
	// The root cgroup has no cgroup.kill: look in the new one.
	if _, err := os.Stat(filepath.Join(st.V2, "cgroup.kill")); err != nil {
		t.Skipf("no cgroup.kill (Linux 5.14+): %v", err)
	}
	top := st.Created[st.V2]
	if top == "" {
		t.Fatalf("State().Created[%q] is empty after Create, want the top-most level made", st.V2)
	}
	nested := filepath.Join(st.V2, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	var ws []*workload
	for i := 0; i < 3; i++ {
		w := startWorkload(t, "sleep", nil)
		if err := m.Apply(w.pid()); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := writeFile(nested, "cgroup.procs", strconv.Itoa(w.pid())); err != nil {
				t.Fatal(err)
			}
		}
		w.release(t)
		w.line(t, 30*time.Second)
		ws = append(ws, w)
	}

	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var saved State
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	m, err = Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := m.Procs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != len(ws) {
		t.Fatalf("Procs() = %v, want the %d workloads", pids, len(ws))
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if ps := w.wait(t, 30*time.Second); !killedBy(ps, unix.SIGKILL) {
			t.Errorf("workload %d ended with %v after Kill(SIGKILL), want killed by SIGKILL", w.pid(), ps)
		}
	}
	if pids, err := m.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs() after Kill = %v, %v; want none", pids, err)
	}
	if err := m.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	destroyed = true
	for _, d := range []string{nested, st.V2, top} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Destroy: stat error %v, want not exist", d, err)
		}
	}
}

// TestV2KillSignal covers Kill with a signal other than SIGKILL, which
// cgroup.kill cannot send: the cgroup is frozen while its processes are
// signalled, then thawed, unless it was frozen before.
func TestV2KillSignal(t *testing.T) {
	m := newV2(t, "signal", nil)
	for _, paused := range []bool{false, true} {
		w := startWorkload(t, "sleep", nil)
		if err := m.Apply(w.pid()); err != nil {
			t.Fatal(err)
		}
		w.release(t)
		w.line(t, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if paused {
			if err := m.Freeze(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Kill(unix.SIGTERM); err != nil {
			t.Fatalf("Kill(SIGTERM), paused %v: %v", paused, err)
		}
		want := Thawed
		if paused {
			want = Frozen
		}
		if s, err := m.FreezerState(); err != nil || s != want {
			t.Errorf("FreezerState() after Kill(SIGTERM), paused %v = %q, %v; want %q", paused, s, err, want)
		}
		if paused {
			if err := m.Thaw(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if ps := w.wait(t, 30*time.Second); !killedBy(ps, unix.SIGTERM) {
			t.Errorf("workload ended with %v after Kill(SIGTERM), paused %v; want killed by SIGTERM", ps, paused)
		}
	}
}

// blockDevice returns "maj:min" of a block device of this machine, or "".
func blockDevice() string {
	ents, _ := os.ReadDir("/sys/block")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev")); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func TestV2Set(t *testing.T) {
	m := newV2(t, "set", nil)
	dir := m.State().V2
	dev := blockDevice()
	var major, minor int64
	if dev != "" {
		_, _ = fmt.Sscanf(dev, "%d:%d", &major, &minor)
	}
	for _, tc := range []struct {
		name string
		r    specs.LinuxResources
		// skip, if set, gives a reason to skip the case on this machine.
		skip func() string
		// file, if set, must read want (a line starting with want, for a
		// file of one line per device).
		file, want string
		wantErr    string
	}{
		{
			name: "swap is memory+swap",
			r:    specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Swap: ptr(int64(48 << 20))}},
			file: "memory.swap.max", want: strconv.Itoa(16 << 20),
		},
		{
			name: "reservation",
			r:    specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: ptr(int64(8 << 20))}},
			file: "memory.low", want: strconv.Itoa(8 << 20),
		},
		{
			name: "memory unlimited",
			r:    specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1)), Swap: ptr(int64(-1))}},
			file: "memory.max", want: "max",
		},
		{
			name: "pids unlimited",
			r:    specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(0))}},
			file: "pids.max", want: "max",
		},
		{
			name: "cpu quota keeps period",
			r:    specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(200000))}},
			file: "cpu.max", want: "50000 200000",
		},
		{
			name: "cpu quota only",
			r:    specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(-1))}},
			file: "cpu.max", want: "max 200000",
		},
		{
			name: "cpuset",
			r:    specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}},
			skip: func() string { return needFile(dir, "cpuset.cpus") },
			file: "cpuset.cpus", want: "0",
		},
		{
			name: "io weight",
			r:    specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))}},
			skip: func() string { return needFile(dir, "io.weight") },
			file: "io.weight", want: "default 4950",
		},
		{
			name: "io.max",
			r: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
				{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20},
			}}},
			skip: func() string {
				if dev == "" {
					return "no block device in /sys/block"
				}
				return needFile(dir, "io.max")
			},
			file: "io.max", want: dev + " rbps=1048576 wbps=max riops=max wiops=max",
		},
		{
			name: "hugetlb",
			r:    specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			skip: func() string { return needFile(dir, "hugetlb.2MB.max") },
			file: "hugetlb.2MB.max", want: strconv.Itoa(4 << 20),
		},
		{
			name: "unified memory.high",
			r:    specs.LinuxResources{Unified: map[string]string{"memory.high": "16777216"}},
			file: "memory.high", want: "16777216",
		},
		{
			name:    "unified unknown key",
			r:       specs.LinuxResources{Unified: map[string]string{"memory.bogus": "1"}},
			wantErr: `"memory.bogus"`,
		},
		{
			name:    "unified cgroup.procs refused",
			r:       specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}},
			wantErr: `"cgroup.procs"`,
		},
		{
			name:    "swappiness refused",
			r:       specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(10))}},
			wantErr: "swappiness",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != nil {
				if why := tc.skip(); why != "" {
					t.Skip(why)
				}
			}
			err := m.Set(&tc.r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Set() error = %v, want one naming %s", err, tc.wantErr)
				}
				t.Logf("Set() error = %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Set() error = %v", err)
			}
			got := readV2(t, m, tc.file)
			if dev != "" && strings.HasPrefix(tc.want, dev+" ") {
				for _, l := range strings.Split(got, "\n") {
					if strings.HasPrefix(l, dev+" ") {
						got = l
					}
				}
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}

func needFile(dir, file string) string {
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return fmt.Sprintf("no %s on this machine: %v", file, err)
	}
	return ""
}

// TestV2Stats starts the workload straight into the cgroup with
// CLONE_INTO_CGROUP, as Placement is meant for, and reads its usage.
func TestV2Stats(t *testing.T) {
	const memLimit, pidsLimit = 64 << 20, 32
	m := newV2(t, "stats", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(memLimit))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(pidsLimit))},
	})
	dir, err := os.Open(m.Placement().V2)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	w := startWorkload(t, "spin", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", w.pid()))
	if err != nil {
		t.Fatal(err)
	}
	if got := parseProcCgroup(b)["unified"]; got != m.State().Path {
		t.Fatalf("a process started with CLONE_INTO_CGROUP is in %q, want %q", got, m.State().Path)
	}
	if err := m.Apply(w.pid()); err != nil {
		t.Fatal(err)
	}
	w.release(t)
	w.line(t, 30*time.Second)
	// user_usec is sampled at the scheduler tick, usage_usec is exact:
	// the first may lag behind.
	waitFor(t, 30*time.Second, "CPU usage", func() bool {
		st, err := m.Stats()
		return err == nil && st.CPU.Usage.Total > 0 && st.CPU.Usage.User > 0
	})
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		ok   bool
		got  any
	}{
		{"Memory.Usage.Usage > 0", st.Memory.Usage.Usage > 0, st.Memory.Usage.Usage},
		{"Memory.Usage.Limit == 64 MiB", st.Memory.Usage.Limit == memLimit, st.Memory.Usage.Limit},
		{"Pids.Current >= 1", st.Pids.Current >= 1, st.Pids.Current},
		{"Pids.Limit == 32", st.Pids.Limit == pidsLimit, st.Pids.Limit},
		{"CPU.Usage.Total > 0", st.CPU.Usage.Total > 0, st.CPU.Usage.Total},
		{"CPU.Usage.User > 0", st.CPU.Usage.User > 0, st.CPU.Usage.User},
		{"Memory.Raw[anon] > 0", st.Memory.Raw["anon"] > 0, st.Memory.Raw["anon"]},
	} {
		if !c.ok {
			t.Errorf("Stats(): got %v, want %s", c.got, c.what)
		}
	}

	// checkBeforeUpdate refuses a limit below the usage and leaves the
	// old one.
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(4096)), CheckBeforeUpdate: ptr(true)}})
	if err == nil || !strings.Contains(err.Error(), "below the current usage") {
		t.Errorf("Set(memory.limit 4096, checkBeforeUpdate) with %d bytes in use: error %v, want one saying the limit is below the usage", st.Memory.Usage.Usage, err)
	}
	if got := readV2(t, m, "memory.max"); got != strconv.Itoa(memLimit) {
		t.Errorf("memory.max after a refused update = %q, want %d", got, memLimit)
	}
}
