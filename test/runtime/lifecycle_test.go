package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// state reads `capsa-runtime state` as JSON.
func (r *rt) state(t *testing.T, id string) map[string]any {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(r.mustRun(t, "state", id)), &st); err != nil {
		t.Fatalf("state %s: %v", id, err)
	}
	return st
}

func waitStatus(t *testing.T, r *rt, id, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := r.state(t, id)
		if st["status"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: status %v, want %s", id, st["status"], want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunExitStatus(t *testing.T) {
	r := newRT(t)
	for _, code := range []int{0, 1, 3, 42} {
		b := newBundle(t, "sh", "-c", "echo out; echo err >&2; exit "+strconv.Itoa(code))
		res := r.runIn(t, b)
		if res.code != code || res.stdout != "out\n" || res.stderr != "err\n" {
			t.Errorf("run exit %d: got %v", code, res)
		}
	}
}

func TestRunKilledBySignal(t *testing.T) {
	r := newRT(t)
	// Without a PID namespace: a namespace's init cannot be killed from
	// inside it.
	b := newBundle(t, "sh", "-c", "kill -9 $$")
	b.spec.Linux.Namespaces = b.spec.Linux.Namespaces[1:] // drop pid
	if b.spec.Linux.Namespaces[0].Type == "pid" {
		t.Fatal("namespace order changed")
	}
	if res := r.runIn(t, b); res.code != 128+9 {
		t.Errorf("got %v, want exit 137", res)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "echo started > /tmp/marker; sleep 60")
	b.save(t)
	id := containerID(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.mustRun(t, "create", "--bundle", b.dir, "--pid-file", pidFile, id)

	st := r.state(t, id)
	if st["status"] != "created" || st["id"] != id || st["bundle"] != b.dir {
		t.Fatalf("after create: state %v", st)
	}
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if pid, _ := strconv.Atoi(string(pidData)); float64(pid) != st["pid"] {
		t.Errorf("pid file %q, state pid %v", pidData, st["pid"])
	}
	// The process has not run yet.
	if _, err := os.Stat(filepath.Join(b.dir, "rootfs/tmp/marker")); err == nil {
		t.Error("process ran before start")
	}
	if res := r.run(t, "create", "--bundle", b.dir, id); res.code == 0 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("second create: %v", res)
	}
	r.mustRun(t, "start", id)
	waitStatus(t, r, id, "running")
	if res := r.run(t, "start", id); res.code == 0 || !strings.Contains(res.stderr, "running") {
		t.Errorf("start of running container: %v", res)
	}
	if res := r.run(t, "delete", id); res.code == 0 || !strings.Contains(res.stderr, "running") {
		t.Errorf("delete of running container without --force: %v", res)
	}
	list := r.mustRun(t, "list", "--format", "json")
	if !strings.Contains(list, `"id":"`+id+`"`) || !strings.Contains(list, `"status":"running"`) {
		t.Errorf("list: %s", list)
	}
	r.mustRun(t, "kill", id, "KILL")
	waitStatus(t, r, id, "stopped")
	r.mustRun(t, "delete", id)
	if res := r.run(t, "state", id); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("state after delete: %v", res)
	}
}

func TestExec(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "60")
	b.spec.Process.Env = append(b.spec.Process.Env, "FROM_CONFIG=yes")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)

	// Same PID namespace as the container (sleep is PID 1), same hostname,
	// the container's environment.
	out := r.mustRun(t, "exec", id, "sh", "-c", "cat /proc/1/cmdline; echo; hostname; echo $FROM_CONFIG; echo $$")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "sleep\x0060\x00" || lines[1] != "capsa" || lines[2] != "yes" || lines[3] == "1" {
		t.Errorf("exec output %q", out)
	}
	if res := r.run(t, "exec", id, "sh", "-c", "exit 5"); res.code != 5 {
		t.Errorf("exec exit status: %v", res)
	}
	if res := r.run(t, "exec", "--user", "1000:1000", "--cwd", "/tmp", id, "sh", "-c", "id -u; id -g; pwd"); res.stdout != "1000\n1000\n/tmp\n" {
		t.Errorf("exec --user --cwd: %v", res)
	}
	res := r.run(t, "exec", id, "nosuchcommand")
	if res.code == 0 || !strings.Contains(res.stderr, `"nosuchcommand": executable file not found`) {
		t.Errorf("exec of a missing command: %v", res)
	}
	// The exec'd process is in the container's cgroup.
	out = r.mustRun(t, "exec", id, "sh", "-c", "cat /proc/self/cgroup")
	init := r.mustRun(t, "exec", id, "cat", "/proc/1/cgroup")
	if out != init {
		t.Errorf("exec cgroups %q, init cgroups %q", out, init)
	}
	pids := r.mustRun(t, "ps", "--format", "json", id)
	var pl []int
	if err := json.Unmarshal([]byte(pids), &pl); err != nil || len(pl) != 1 {
		t.Errorf("ps --format json: %q (%v)", pids, err)
	}
}

func TestPauseResume(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/count; done")
	b.spec.Root.Readonly = false
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	count := func() string {
		d, _ := os.ReadFile(filepath.Join(b.dir, "rootfs/tmp/count"))
		return string(d)
	}
	// The count file is renamed into place: it always holds a number.
	for deadline := time.Now().Add(5 * time.Second); count() == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container never counted")
		}
	}
	r.mustRun(t, "pause", id)
	waitStatus(t, r, id, "paused")
	c1 := count()
	time.Sleep(200 * time.Millisecond)
	if c2 := count(); c1 != c2 {
		t.Errorf("paused container made progress: %q -> %q", c1, c2)
	}
	r.mustRun(t, "resume", id)
	waitStatus(t, r, id, "running")
	for deadline := time.Now().Add(5 * time.Second); count() == c1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("resumed container made no progress in 5 s: %q", c1)
		}
	}
}

func TestKillAll(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sh", "-c", "sleep 60 & sleep 60 & wait")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pl []int
		_ = json.Unmarshal([]byte(r.mustRun(t, "ps", "--format", "json", id)), &pl)
		if len(pl) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 3 processes, got %v", pl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mustRun(t, "kill", "--all", id, "TERM")
	waitStatus(t, r, id, "stopped")
	r.mustRun(t, "delete", id)

	// SIGKILL to all goes through cgroup v2's cgroup.kill where the
	// container has a v2 cgroup: here, the hybrid host's unified one. A
	// shell that ignores TERM goes too.
	b2 := newBundle(t, "sh", "-c", "trap '' TERM; sleep 60 & sleep 60 & wait")
	b2.save(t)
	id2 := containerID(t)
	r.mustRun(t, "run", "--detach", "--bundle", b2.dir, id2)
	defer r.run(t, "delete", "--force", id2)
	r.mustRun(t, "kill", "--all", id2, "KILL")
	waitStatus(t, r, id2, "stopped")
	var pl []int
	_ = json.Unmarshal([]byte(r.mustRun(t, "ps", "--format", "json", id2)), &pl)
	if len(pl) != 0 {
		t.Errorf("processes left after kill --all KILL: %v", pl)
	}
}

// TestCreatedOutlivesCreate: the runtime exits as soon as create returns;
// the created container must not die with it (a regression: init cleared
// its parent-death signal only after the runtime's last message).
func TestCreatedOutlivesCreate(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "true")
	b.save(t)
	for i := 0; i < 15; i++ {
		id := containerID(t)
		r.mustRun(t, "create", "--bundle", b.dir, id)
		time.Sleep(20 * time.Millisecond)
		if st := r.state(t, id)["status"]; st != "created" {
			t.Fatalf("create %d: status %v after the runtime exited, want created", i, st)
		}
		r.mustRun(t, "delete", id)
	}
}

// TestStartReturnsOnceTheProcessRuns: start returns when init has exec'd
// the container's process (after the startContainer hooks), so that the
// poststart hooks run after it, as the spec says.
func TestStartReturnsOnceTheProcessRuns(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "30")
	b.spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "0.3"}}}}
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "create", "--bundle", b.dir, id)
	defer r.run(t, "delete", "--force", id)
	pid := int(r.state(t, id)["pid"].(float64))
	start := time.Now()
	r.mustRun(t, "start", id)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("start returned after %v, before its 0.3 s startContainer hook was done", d)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if strings.TrimSpace(string(comm)) != "sleep" {
		t.Errorf("after start, the container's init is %q, want the container's process", comm)
	}
}
