package daemon_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureRestartPolicies: on-failure:N, always and unless-stopped as
// docker's: the count, the back-off, and stop winning over the policy.
func TestFeatureRestartPolicies(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	// on-failure:2: the first run and two restarts, then it stays exited.
	d.MustCapsa("run", "-d", "--name", "onfail", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
	waitFor(t, 10*time.Second, "on-failure:2 to give up", func() (bool, string) {
		s := inspectField(d, "onfail", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}")
		return s == "exited 2 1", s
	})
	time.Sleep(time.Second) // back-off would be 400 ms: no third restart
	if s := inspectField(d, "onfail", "{{.State.Status}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"); s != "exited 2 on-failure:2" {
		t.Errorf("on-failure:2 after giving up: %q", s)
	}
	if out := d.MustCapsa("logs", "onfail"); out != "run\nrun\nrun" {
		t.Errorf("logs of on-failure:2: %q, want three runs", out)
	}
	// on-failure does not restart a container that exits 0.
	d.MustCapsa("run", "-d", "--name", "onfail0", "--restart", "on-failure", "busybox", "true")
	time.Sleep(500 * time.Millisecond)
	if s := inspectField(d, "onfail0", "{{.State.Status}} {{.RestartCount}}"); s != "exited 0" {
		t.Errorf("on-failure after exit 0: %q", s)
	}

	// always: restarted when its process dies (killed from the host), with
	// a new pid; capsa kill, as docker kill, is a manual stop.
	d.MustCapsa("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000")
	pid1 := inspectField(d, "always", "{{.State.Pid}}")
	killPid(t, pid1)
	waitFor(t, 10*time.Second, "always to restart after its process was killed", func() (bool, string) {
		s := inspectField(d, "always", "{{.State.Status}} {{.RestartCount}} {{.State.Pid}}")
		f := strings.Fields(s)
		return len(f) == 3 && f[0] == "running" && f[1] == "1" && f[2] != pid1 && f[2] != "0", s
	})
	d.MustCapsa("kill", "always")
	time.Sleep(700 * time.Millisecond)
	if s := inspectField(d, "always", "{{.State.Status}} {{.RestartCount}}"); s != "exited 1" {
		t.Errorf("always after capsa kill: %q, want exited 1 (docker kill is a manual stop)", s)
	}
	// start again: the policy applies again; stop keeps it stopped.
	d.MustCapsa("start", "always")
	pid2 := inspectField(d, "always", "{{.State.Pid}}")
	killPid(t, pid2)
	waitFor(t, 10*time.Second, "always to restart after start and a kill from the host", func() (bool, string) {
		s := inspectField(d, "always", "{{.State.Status}} {{.State.Pid}}")
		f := strings.Fields(s)
		return len(f) == 2 && f[0] == "running" && f[1] != pid2 && f[1] != "0", s
	})
	d.MustCapsa("stop", "-t", "1", "always")
	time.Sleep(700 * time.Millisecond)
	if s := inspectField(d, "always", "{{.State.Status}} {{.State.Running}}"); s != "exited false" {
		t.Errorf("always after stop: %q, want exited", s)
	}
	// rm -f of a running always container is quick (no restart between).
	d.MustCapsa("start", "always")
	t0 := time.Now()
	d.MustCapsa("rm", "-f", "always")
	if el := time.Since(t0); el > 3*time.Second {
		t.Errorf("rm -f of a running always container took %v", el)
	}

	// unless-stopped: restarts after its process dies, not after stop.
	d.MustCapsa("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.3; exit 4")
	waitFor(t, 10*time.Second, "unless-stopped to restart", func() (bool, string) {
		s := inspectField(d, "unless", "{{.RestartCount}}")
		n, _ := strconv.Atoi(s)
		return n >= 1, s
	})
	d.MustCapsa("stop", "-t", "1", "unless")
	n1 := inspectField(d, "unless", "{{.RestartCount}}")
	time.Sleep(time.Second)
	if s := inspectField(d, "unless", "{{.State.Status}} {{.RestartCount}}"); s != "exited "+n1 {
		t.Errorf("unless-stopped after stop: %q, want exited with RestartCount %s", s, n1)
	}

	// Bad policies are refused as docker refuses them.
	if r := d.Capsa("run", "-d", "--restart", "sometimes", "busybox", "true"); r.Code != 125 {
		t.Errorf("--restart sometimes: %v", r)
	}
	if r := d.Capsa("run", "-d", "--restart", "always:3", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "maximum retry count") {
		t.Errorf("--restart always:3: %v", r)
	}
	if r := d.Capsa("run", "--rm", "--restart", "always", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "conflicting options: cannot specify both --restart and --rm") {
		t.Errorf("--restart always --rm: %v", r)
	}
}

// killPid kills pid (a container's process, from the host) with SIGKILL.
func killPid(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 1 {
		t.Fatalf("bad pid %q", pid)
	}
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", n, err)
	}
}

// TestFeatureRestartCommandWithPolicy pins a hang: restart of a container
// whose policy restarts it (always, on-failure after the SIGKILL's 137)
// waited forever, as the policy took the stop's exit for its own and kept
// the container "restarting" while restart held it.
func TestFeatureRestartCommandWithPolicy(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	for _, policy := range []string{"always", "on-failure", "unless-stopped"} {
		name := "rp-" + policy
		d.MustCapsa("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000")
		pid := inspectField(d, name, "{{.State.Pid}}")
		if r := d.Capsa("restart", "-t", "0", name); r.Code != 0 {
			t.Fatalf("restart of a --restart %s container: %v", policy, r)
		}
		if s := inspectField(d, name, "{{.State.Status}}"); s != "running" {
			t.Errorf("--restart %s: after restart %q", policy, s)
		}
		if p := inspectField(d, name, "{{.State.Pid}}"); p == pid {
			t.Errorf("--restart %s: the same pid %s after restart", policy, p)
		}
	}
}
