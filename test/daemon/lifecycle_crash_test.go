package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// crashDelays are when (ms), after a command starts, capsad is killed: from
// before the request arrives to after the command is done.
var crashDelays = []int{0, 2, 5, 10, 20, 40, 70, 100, 150, 250, 400, 700, 1100}

// TestKill9DuringCommand kills capsad with SIGKILL while run, stop or rm
// is under way, at several points; after a restart the store opens,
// every container is running, created or exited (or gone), each can be
// removed, and nothing half-made is left: no mount, shim, cgroup or
// directory without its container.
func TestKill9DuringCommand(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	delays := crashDelays
	if s := os.Getenv("CAPSA_CRASH_DELAYS_MS"); s != "" {
		delays = nil
		for _, f := range strings.Split(s, ",") {
			ms, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("CAPSA_CRASH_DELAYS_MS: %v", err)
			}
			delays = append(delays, ms)
		}
	}
	for _, op := range []string{"run", "stop", "rm"} {
		for _, ms := range delays {
			t.Run(fmt.Sprintf("%s/%dms", op, ms), func(t *testing.T) {
				crashDuring(t, d, op, time.Duration(ms)*time.Millisecond, d.Kill9)
			})
		}
	}
}

// TestStopDuringCommand is TestKill9DuringCommand with a clean stop of
// capsad (SIGTERM) while the command runs.
func TestStopDuringCommand(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	for _, op := range []string{"run", "stop", "rm"} {
		for _, ms := range []int{0, 20, 100, 400} {
			t.Run(fmt.Sprintf("%s/%dms", op, ms), func(t *testing.T) {
				crashDuring(t, d, op, time.Duration(ms)*time.Millisecond, d.Stop)
			})
		}
	}
}

func crashDuring(t *testing.T, d *daemontest.Daemon, op string, delay time.Duration, down func()) {
	var args []string
	switch op {
	case "run":
		args = []string{"run", "-d", "busybox", "sleep", "1000"}
	case "stop":
		// sleep as PID 1 ignores SIGTERM: stop waits its second, then kills.
		id := d.MustCapsa("run", "-d", "busybox", "sleep", "1000")
		args = []string{"stop", "-t", "1", id}
	case "rm":
		id := d.MustCapsa("run", "-d", "busybox", "sleep", "1000")
		args = []string{"rm", "-f", id}
	}
	var ids []string
	ids = append(ids, d.IDs()...)
	cmd := exec.Command(filepath.Join(d.Bin, "capsa"), append([]string{"-H", d.Host}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	down()
	_ = cmd.Wait()
	if id := strings.TrimSpace(out.String()); len(id) == 64 {
		ids = append(ids, id)
	}
	d.Restart()

	r := d.Capsa("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}")
	if r.Code != 0 {
		t.Fatalf("ps -a after the crash: %v", r)
	}
	running := 0
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		id, state, _ := strings.Cut(line, " ")
		ids = append(ids, id)
		switch state {
		case "running":
			running++
			if pid := inspectPid(t, d, id); !alive(pid) {
				t.Errorf("container %.12s is running with pid %d, which is not alive", id, pid)
			}
		case "created", "exited":
		default:
			t.Errorf("container %.12s is %s after the crash (%s)", id, state, inspect(d, id, "{{.State.Error}}"))
		}
	}
	if shims := d.Shims(); len(shims) != running {
		t.Errorf("%d shims for %d running containers: %v", len(shims), running, shims)
		for _, p := range shims {
			id := shimOf(p)
			t.Logf("shim %d of %.12s: state dir %v, bundle %v, inspect: %v", p, id,
				dirEntries(filepath.Join(d.ExecRoot, "containers", id)), dirEntries(filepath.Join(d.DataRoot, "containers", id)),
				d.Capsa("inspect", "-f", "{{.State.Status}} {{.State.Error}}", id))
		}
	}
	for _, id := range d.IDs() {
		if r := d.Capsa("rm", "-f", id); r.Code != 0 {
			t.Errorf("rm -f %.12s after the crash: %v", id, r)
		}
	}
	checkNothingLeft(t, d, ids)
	if t.Failed() {
		t.Logf("the command said: %s", out.String())
	}
}
