package runtime_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits are shown enforced from inside the container, through the CLI,
// on this host's cgroup v1 controllers.

// readCgroup reads a file of the container's cgroup in a v1 hierarchy.
func readCgroup(t *testing.T, ctrl, id, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, "capsa", id, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestMemoryLimitOOM: a process allocating past linux.resources.memory.limit
// is OOM-killed, and `events` reports the OOM.
func TestMemoryLimitOOM(t *testing.T) {
	r := newRT(t)
	// The shell holds 64 MiB of "a" in a variable, four times the limit,
	// once /go exists: the test makes it when `events` is watching (its
	// first stats line), so a slow start of events cannot miss the OOM.
	b := newBundle(t, "sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done; x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived ${#x}")
	lim := int64(16 << 20)
	b.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim, Swap: &lim}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)

	ev := exec.Command(r.bin, "--root", r.root, "events", "--interval", "100ms", id)
	out, err := ev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ev.Process.Kill(); _ = ev.Wait() }()
	oom := make(chan bool, 1)
	goFile := filepath.Join(b.spec.Root.Path, "go")
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			var e struct{ Type, ID string }
			if json.Unmarshal(s.Bytes(), &e) == nil && e.Type == "stats" {
				_ = os.WriteFile(goFile, nil, 0o644)
			}
			if json.Unmarshal(s.Bytes(), &e) == nil && e.Type == "oom" && e.ID == id {
				oom <- true
				return
			}
		}
		oom <- false
	}()
	select {
	case got := <-oom:
		if !got {
			t.Errorf("events ended without an oom event")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no oom event within 20 s")
	}
	if got := readCgroup(t, "memory", id, "memory.limit_in_bytes"); got != strconv.FormatInt(lim, 10) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", got, lim)
	}
	if got := readCgroup(t, "memory", id, "memory.max_usage_in_bytes"); mustAtoi(t, got) > lim {
		t.Errorf("memory.max_usage_in_bytes %s above the limit %d", got, lim)
	}
	waitStatus(t, r, id, "stopped")
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestPidsLimit: a fork loop stops at linux.resources.pids.limit: the
// shell that forks gets "can't fork", and the cgroup holds no more
// processes than the limit.
func TestPidsLimit(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "60")
	limit := int64(12)
	b.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	res := r.run(t, "exec", id, "sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo all-forked")
	if res.code == 0 || strings.Contains(res.stdout, "all-forked") || !strings.Contains(res.stderr, "can't fork") {
		t.Errorf("fork loop under pids.limit %d: %v", limit, res)
	}
	var pl []int
	if err := json.Unmarshal([]byte(r.mustRun(t, "ps", "--format", "json", id)), &pl); err != nil {
		t.Fatal(err)
	}
	if len(pl) > int(limit) || len(pl) < int(limit)-2 {
		t.Errorf("%d processes in the container, want about the limit %d", len(pl), limit)
	}
	if cur := mustAtoi(t, readCgroup(t, "pids", id, "pids.current")); cur > limit {
		t.Errorf("pids.current %d above pids.max %d", cur, limit)
	}
}

// TestCPUQuota: a busy loop under cpu quota 20000/period 100000 uses about
// 20 % of one CPU over a second, and is throttled. The upper bound is the
// quota's; the lower one is loose, since other test packages may share the
// two CPUs.
func TestCPUQuota(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "while :; do :; done")
	quota, period := int64(20000), uint64(100000)
	b.spec.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	time.Sleep(200 * time.Millisecond)
	// share measures the CPU the container used over a second, and how
	// many periods it was throttled in meanwhile.
	share := func() (float64, int64) {
		u0, t0 := mustAtoi(t, readCgroup(t, "cpuacct", id, "cpuacct.usage")), time.Now()
		th0 := throttled(t, id)
		time.Sleep(time.Second)
		u1, t1 := mustAtoi(t, readCgroup(t, "cpuacct", id, "cpuacct.usage")), time.Now()
		return float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds()), throttled(t, id) - th0
	}
	// The share's upper bound is the quota's proof; throttling (at least
	// once: on a busy host the loop does not reach its quota in every
	// period) shows it is the quota that holds it.
	if s, th := share(); s < 0.05 || s > 0.30 || th < 1 {
		t.Errorf("busy loop under a 20 %% quota: %.0f %% of a CPU, throttled in %d periods of 10", s*100, th)
	}
	if got := readCgroup(t, "cpu", id, "cpu.cfs_quota_us"); got != "20000" {
		t.Errorf("cpu.cfs_quota_us = %s", got)
	}
	// update moves the quota: 50 %.
	r.mustRun(t, "update", "--cpu-quota", "50000", id)
	if got := readCgroup(t, "cpu", id, "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("cpu.cfs_quota_us after update = %s, want 50000", got)
	}
	if s, th := share(); s < 0.15 || s > 0.60 || th < 1 {
		t.Errorf("busy loop after update to a 50 %% quota: %.0f %% of a CPU, throttled in %d periods of 10", s*100, th)
	}
}

// throttled reads nr_throttled from the container's cpu.stat.
func throttled(t *testing.T, id string) int64 {
	t.Helper()
	for _, line := range strings.Split(readCgroup(t, "cpu", id, "cpu.stat"), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "nr_throttled" {
			return mustAtoi(t, v)
		}
	}
	t.Fatal("no nr_throttled in cpu.stat")
	return 0
}

// TestResourcesBadInput: values the kernel or the spec refuse, unknown
// unified keys, an update of a stopped container: a one-line error naming
// the field, and the container's cgroup as it was.
func TestResourcesBadInput(t *testing.T) {
	r := newRT(t)
	for _, tc := range []struct {
		name   string
		mutate func(*specs.LinuxResources)
		want   string
	}{
		{"swappiness over 100", func(res *specs.LinuxResources) {
			v := uint64(200)
			res.Memory = &specs.LinuxMemory{Swappiness: &v}
		}, "linux.resources.memory.swappiness 200: must be 0 to 100"},
		{"unknown unified key", func(res *specs.LinuxResources) {
			res.Unified = map[string]string{"memory.bogus": "1"}
		}, `linux.resources.unified["memory.bogus"]`},
		{"unified key outside the cgroup", func(res *specs.LinuxResources) {
			res.Unified = map[string]string{"../cgroup.procs": "1"}
		}, "not a cgroup interface file name"},
		{"blkio leaf weight on a kernel without CFQ", func(res *specs.LinuxResources) {
			w := uint16(300)
			res.BlockIO = &specs.LinuxBlockIO{LeafWeight: &w}
		}, "linux.resources.blockIO.leafWeight: this kernel's blkio controller has no leaf weight"},
		{"hugetlb without the controller", func(res *specs.LinuxResources) {
			res.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}
		}, "linux.resources.hugepageLimits: this host has no hugetlb cgroup controller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, "true")
			tc.mutate(b.spec.Linux.Resources)
			b.save(t)
			id := containerID(t)
			res := r.run(t, "run", "--bundle", b.dir, id)
			if res.code == 0 || !strings.Contains(res.stderr, tc.want) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Errorf("got %v, want one line containing %q", res, tc.want)
			}
			if d := cgroupDirs(id); len(d) > 0 {
				t.Errorf("cgroups left behind: %v", d)
			}
		})
	}
	b := newBundle(t, "sh", "-c", "sleep 30")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	before := readCgroup(t, "memory", id, "memory.limit_in_bytes")
	if res := r.run(t, "update", "--memory", "lots", id); res.code == 0 || !strings.Contains(res.stderr, "--memory") {
		t.Errorf("update --memory lots: %v", res)
	}
	if res := r.run(t, "update", "--cpuset-cpus", "99", id); res.code == 0 || !strings.Contains(res.stderr, "cpus") {
		t.Errorf("update --cpuset-cpus 99: %v", res)
	}
	if got := readCgroup(t, "memory", id, "memory.limit_in_bytes"); got != before {
		t.Errorf("memory.limit_in_bytes changed to %s by failed updates", got)
	}
	r.mustRun(t, "kill", id, "KILL")
	waitStatus(t, r, id, "stopped")
	if res := r.run(t, "update", "--memory", "64m", id); res.code == 0 || !strings.Contains(res.stderr, "stopped") {
		t.Errorf("update of a stopped container: %v", res)
	}
}

// TestBlkioValues: block I/O weight and throttles reach blkio's files
// (this host's blkio has BFQ's weight files and the throttle files).
func TestBlkioValues(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "30")
	w := uint16(300)
	dev := specs.LinuxThrottleDevice{Rate: 1 << 20}
	dev.Major, dev.Minor = 254, 0
	b.spec.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: &w, ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{dev}}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	if got := readCgroup(t, "blkio", id, "blkio.bfq.weight"); !strings.HasSuffix(got, "300") {
		t.Errorf("blkio.bfq.weight = %q, want 300", got)
	}
	if got := readCgroup(t, "blkio", id, "blkio.throttle.read_bps_device"); got != "254:0 1048576" {
		t.Errorf("blkio.throttle.read_bps_device = %q", got)
	}
}

// TestCgroupsPathLevels: a nested cgroupsPath is created level by level,
// and delete removes the levels it created and no other.
func TestCgroupsPathLevels(t *testing.T) {
	r := newRT(t)
	mine := "capsa-itest-" + strconv.Itoa(os.Getpid())
	// A parent that exists before (as a kubelet's pod cgroup would).
	for _, c := range []string{"memory", "pids"} {
		if err := os.Mkdir(filepath.Join("/sys/fs/cgroup", c, mine), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range []string{"memory", "pids"} {
			_ = os.Remove(filepath.Join("/sys/fs/cgroup", c, mine))
		}
	})
	for _, tc := range []struct{ path, made, kept string }{
		{"/" + mine + "/a/b", mine + "/a", mine},
		{"rel-" + mine + "/c", "capsa/rel-" + mine, ""},
	} {
		b := newBundle(t, "sh", "-c", "cat /proc/self/cgroup")
		b.spec.Linux.CgroupsPath = tc.path
		b.save(t)
		id := containerID(t)
		r.mustRun(t, "create", "--bundle", b.dir, id)
		leaf := strings.TrimPrefix(tc.path, "/")
		if !strings.HasPrefix(tc.path, "/") {
			leaf = "capsa/" + leaf
		}
		for _, c := range []string{"memory", "pids", "freezer"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, leaf)); err != nil {
				t.Errorf("cgroupsPath %q: %v", tc.path, err)
			}
		}
		r.mustRun(t, "delete", "--force", id)
		for _, c := range []string{"memory", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, tc.made)); err == nil {
				t.Errorf("cgroupsPath %q: %s/%s left after delete", tc.path, c, tc.made)
			}
			if tc.kept != "" {
				if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, tc.kept)); err != nil {
					t.Errorf("cgroupsPath %q: the pre-existing %s/%s was removed", tc.path, c, tc.kept)
				}
			}
		}
	}
}

// TestCpusetSharesAndOOMControl: the cpuset a container sees, its shares,
// and memory.disableOOMKiller: a process over its limit then waits
// instead of being killed.
func TestCpusetSharesAndOOMControl(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "grep Cpus_allowed_list /proc/self/status; x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived")
	shares := uint64(512)
	lim := int64(16 << 20)
	no := true
	b.spec.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "0", Shares: &shares}
	b.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim, Swap: &lim, DisableOOMKiller: &no}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	if got := readCgroup(t, "cpu", id, "cpu.shares"); got != "512" {
		t.Errorf("cpu.shares = %s", got)
	}
	if got := r.mustRun(t, "exec", id, "grep", "Cpus_allowed_list", "/proc/self/status"); strings.Fields(got)[1] != "0" {
		t.Errorf("cpus of a process in the container: %q, want 0", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readCgroup(t, "memory", id, "memory.oom_control"), "under_oom 1") {
		if time.Now().After(deadline) {
			t.Fatalf("the container never came under OOM: %s", readCgroup(t, "memory", id, "memory.oom_control"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.state(t, id)["status"]; st != "running" {
		t.Errorf("with the OOM killer disabled the container is %v, want running (waiting for memory)", st)
	}
	// checkBeforeUpdate: a limit below the current usage is refused.
	res := filepath.Join(t.TempDir(), "res.json")
	if err := os.WriteFile(res, []byte(`{"memory": {"limit": 4096, "checkBeforeUpdate": true}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := r.run(t, "update", "--resources", res, id); out.code == 0 || !strings.Contains(out.stderr, "below the current usage") {
		t.Errorf("update under the usage with checkBeforeUpdate: %v", out)
	}
	if got := readCgroup(t, "memory", id, "memory.limit_in_bytes"); got != strconv.FormatInt(lim, 10) {
		t.Errorf("memory.limit_in_bytes = %s after a refused update", got)
	}
}
