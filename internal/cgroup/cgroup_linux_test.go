package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestManagerOnHost runs a real process through a cgroup's whole life on
// this host's hierarchies: Apply, Set, Freeze, Stats, Kill, Destroy.
func TestManagerOnHost(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	parent := fmt.Sprintf("/capsa-test-%d", os.Getpid())
	p, err := ResolvePath(parent+"/c1", "c1")
	if err != nil {
		t.Fatal(err)
	}
	lim, pids := int64(64<<20), int64(20)
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &lim},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}
	m, err := New(Config{Path: p, Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = m.Destroy(context.Background())
	})
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, cg := range parseProcCgroup(own) {
		if _, ok := m.State().V1[ctrl]; ok && cg != p {
			t.Errorf("%s hierarchy: process in %q, want %q", ctrl, cg, p)
		}
		if ctrl == "unified" && m.State().V2 != "" && cg != p {
			t.Errorf("v2 hierarchy: process in %q, want %q", cg, p)
		}
	}
	if d := m.State().V1["memory"]; d != "" {
		if got, _ := readFile(d, "memory.limit_in_bytes"); got != fmt.Sprint(lim) {
			t.Errorf("memory.limit_in_bytes = %q, want %d", got, lim)
		}
	}
	procs, err := m.Procs()
	if err != nil || !slices.Contains(procs, cmd.Process.Pid) {
		t.Errorf("Procs() = %v, %v; want it to hold %d", procs, err, cmd.Process.Pid)
	}
	ctx := context.Background()
	if err := m.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if fs, err := m.FreezerState(); err != nil || fs != Frozen {
		t.Errorf("FreezerState() after Freeze = %q, %v", fs, err)
	}
	if st := procState(t, cmd.Process.Pid); st != "D" && st != "S" {
		// A frozen task sleeps in the freezer (D on v1 before 6.1).
		t.Logf("frozen task state %q", st)
	}
	if err := m.Thaw(ctx); err != nil {
		t.Fatal(err)
	}
	if fs, _ := m.FreezerState(); fs != Thawed {
		t.Errorf("FreezerState() after Thaw = %q", fs)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current != 1 || st.Pids.Limit != uint64(pids) {
		t.Errorf("pids stats = %+v, want current 1 limit %d", st.Pids, pids)
	}
	// Usage may read 0: pages charged before the move stay where they were.
	if st.Memory.Usage.Limit != uint64(lim) {
		t.Errorf("memory stats = %+v", st.Memory.Usage)
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("process not killed")
	}
	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	if len(left) > 0 {
		t.Errorf("cgroups left after Destroy: %v", left)
	}
}

func procState(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

// TestRefusesOwnCgroup: a path inside the caller's own (non-root) cgroup
// is refused, so that capsa never nests containers in a cgroup it does
// not own.
func TestRefusesOwnCgroup(t *testing.T) {
	own, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, cg := range own {
		if cg == "/" {
			continue
		}
		_, err := New(Config{Path: cg + "/capsa-child"})
		if err == nil || !strings.Contains(err.Error(), "runtime's own cgroup") {
			t.Errorf("New under own %s cgroup %q: %v, want a refusal", ctrl, cg, err)
		}
		return
	}
	t.Skip("the test process is in the root cgroup of every hierarchy")
}

// TestV2DeviceRulesOnUnifiedMount drives the v2 path of Set for device
// rules against this host's cgroup2 mount (hybrid: no controllers, but
// eBPF device programs attach to any v2 cgroup): a process in the cgroup
// can open the allowed nodes and not the others.
func TestV2DeviceRulesOnUnifiedMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	hs, err := hostHierarchies()
	if err != nil || hs.v2 == "" {
		t.Skip("no cgroup2 mount")
	}
	p := fmt.Sprintf("/capsa-test-dev-%d", os.Getpid())
	m := &manager{st: State{Path: p, V2: filepath.Join(hs.v2, p), V2Controllers: true, Created: map[string]string{}}}
	if err := m.create(m.st.V2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Destroy(context.Background()) })
	deny := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	if err := m.Set(&specs.LinuxResources{Devices: append(deny, DefaultDeviceRules()[:3]...)}); err != nil {
		t.Fatal(err)
	}
	open := func(dev string) string {
		script := fmt.Sprintf("echo $$ > %s/cgroup.procs && head -c1 %s >/dev/null 2>&1 && echo opened || echo denied", m.st.V2, dev)
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := open("/dev/null"); got != "opened" {
		t.Errorf("/dev/null (allowed): %s", got)
	}
	if got := open("/dev/full"); got != "denied" {
		t.Errorf("/dev/full (not allowed): %s", got)
	}
	// An update replaces the program.
	if err := m.Set(&specs.LinuxResources{Devices: append(deny, DefaultDeviceRules()...)}); err != nil {
		t.Fatal(err)
	}
	if got := open("/dev/full"); got != "opened" {
		t.Errorf("/dev/full after allowing it: %s", got)
	}
}

// TestConcurrentCreateDestroy: containers made and removed side by side
// under capsa's own parent, which each Destroy tries to remove with its
// last container: a Create caught between the parent's removal and its own
// mkdirs makes the chain again (ENOENT from mkdir, ENODEV from the
// vanished parent's cpuset files) instead of failing.
func TestConcurrentCreateDestroy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				p, _ := ResolvePath("", fmt.Sprintf("stress-%d-%d-%d", os.Getpid(), g, i))
				m, err := New(Config{Path: p})
				if err != nil {
					errs <- err
					return
				}
				if err := m.Create(); err != nil {
					// What was made before the failure goes too.
					_ = m.Destroy(context.Background())
					errs <- err
					return
				}
				if err := m.Destroy(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	left, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/capsa/stress-%d-*", os.Getpid()))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
