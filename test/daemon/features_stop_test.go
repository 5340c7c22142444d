package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureStop: stop sends the stop signal and, after -t, SIGKILL; a
// --stop-signal is the one delivered.
func TestFeatureStop(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	// PID 1 that traps TERM and carries on: killed after -t 1.
	d.MustCapsa("run", "-d", "--name", "stubborn", "busybox", "sh", "-c",
		"trap 'echo got-term' TERM; echo ready; while true; do sleep 0.1; done")
	waitFor(t, 5*time.Second, "stubborn to be ready", func() (bool, string) {
		r := d.Capsa("logs", "stubborn")
		return r.Stdout == "ready\n", r.Stdout
	})
	t0 := time.Now()
	d.MustCapsa("stop", "-t", "1", "stubborn")
	el := time.Since(t0)
	if el < time.Second || el > 5*time.Second {
		t.Errorf("stop -t 1 of a container that ignores TERM took %v, want 1 s to 5 s", el)
	}
	if s := inspectField(d, "stubborn", "{{.State.Status}} {{.State.ExitCode}}"); s != "exited 137" {
		t.Errorf("after stop -t 1: %q, want exited 137", s)
	}
	if out := d.MustCapsa("logs", "stubborn"); out != "ready\ngot-term" {
		t.Errorf("the stop signal did not reach the container first: logs %q", out)
	}

	// A container that exits on TERM stops at once, with its own code.
	d.MustCapsa("run", "-d", "--name", "polite", "busybox", "sh", "-c",
		"trap 'exit 0' TERM; while true; do sleep 0.1; done")
	time.Sleep(200 * time.Millisecond)
	t0 = time.Now()
	d.MustCapsa("stop", "polite")
	if el := time.Since(t0); el > 3*time.Second {
		t.Errorf("stop of a container that exits on TERM took %v", el)
	}
	if s := inspectField(d, "polite", "{{.State.Status}} {{.State.ExitCode}}"); s != "exited 0" {
		t.Errorf("after stop of a polite container: %q", s)
	}

	// --stop-signal USR1: trapped, exit 0.
	d.MustCapsa("run", "-d", "--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c",
		"trap 'echo got-usr1; exit 0' USR1; trap '' TERM; while true; do sleep 0.1; done")
	if s := inspectField(d, "usr1", "{{.Config.StopSignal}}"); s != "USR1" {
		t.Errorf("Config.StopSignal: %q", s)
	}
	time.Sleep(200 * time.Millisecond)
	t0 = time.Now()
	d.MustCapsa("stop", "-t", "5", "usr1")
	if el := time.Since(t0); el > 3*time.Second {
		t.Errorf("stop with --stop-signal USR1 took %v: the signal was not delivered", el)
	}
	if s := inspectField(d, "usr1", "{{.State.Status}} {{.State.ExitCode}}"); s != "exited 0" {
		t.Errorf("after stop with USR1: %q, want exited 0", s)
	}
	if out := d.MustCapsa("logs", "usr1"); out != "got-usr1" {
		t.Errorf("logs of usr1: %q", out)
	}

	// --stop-timeout is the container's default -t.
	d.MustCapsa("run", "-d", "--name", "timeout1", "--stop-timeout", "1", "busybox", "sh", "-c",
		"trap '' TERM; while true; do sleep 0.1; done")
	time.Sleep(200 * time.Millisecond)
	t0 = time.Now()
	d.MustCapsa("stop", "timeout1")
	if el := time.Since(t0); el < time.Second || el > 5*time.Second {
		t.Errorf("stop of a --stop-timeout 1 container took %v", el)
	}
	// stop of a stopped container is no error; of a missing one is.
	if r := d.Capsa("stop", "timeout1"); r.Code != 0 || r.Stdout != "timeout1\n" {
		t.Errorf("stop of a stopped container: %v", r)
	}
	if r := d.Capsa("stop", "nosuch"); r.Code != 1 || r.Stderr != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("stop of a missing container: %v", r)
	}
	// A --rm container is gone when stop returns: its name is free.
	for i := 0; i < 3; i++ {
		d.MustCapsa("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000")
		d.MustCapsa("stop", "-t", "0", "gone")
		if out := d.MustCapsa("ps", "-a", "--filter", "name=gone", "--format", "{{.Names}} {{.Status}}"); out != "" {
			t.Errorf("a --rm container is still listed after stop returned: %q", out)
		}
	}
	// kill -s sends that signal.
	d.MustCapsa("run", "-d", "--name", "hup", "busybox", "sh", "-c",
		"trap 'exit 9' HUP; while true; do sleep 0.1; done")
	time.Sleep(200 * time.Millisecond)
	d.MustCapsa("kill", "-s", "HUP", "hup")
	if r := d.Capsa("wait", "hup"); r.Stdout != "9\n" {
		t.Errorf("wait after kill -s HUP: %v", r)
	}

	// Events of stop and kill as dockerd's: a kill event per signal sent,
	// with its number; stop's after the die.
	until := time.Now().Format(time.RFC3339Nano)
	events := func(name string) string {
		return d.MustCapsa("events", "--since", "0", "--until", until, "--filter", "container="+name,
			"--filter", "event=kill", "--filter", "event=die", "--filter", "event=stop",
			"--format", "{{.Action}}{{with .Actor.Attributes.signal}} {{.}}{{end}}")
	}
	if ev := events("stubborn"); ev != "kill 15\nkill 9\ndie\nstop" {
		t.Errorf("events of stop -t 1 of a container that ignores TERM: %q", ev)
	}
	if ev := events("usr1"); ev != "kill 10\ndie\nstop" {
		t.Errorf("events of stop with --stop-signal USR1: %q", ev)
	}
	if ev := events("hup"); ev != "kill 1\ndie" {
		t.Errorf("events of kill -s HUP: %q", ev)
	}

	// restart: the stop's events, then start and restart.
	d.MustCapsa("run", "-d", "--name", "again", "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
	time.Sleep(200 * time.Millisecond)
	since := time.Now().Format(time.RFC3339Nano)
	d.MustCapsa("restart", "-t", "5", "again")
	ev := d.MustCapsa("events", "--since", since, "--until", time.Now().Format(time.RFC3339Nano), "--filter", "container=again", "--format", "{{.Action}}")
	if ev != "kill\ndie\nstop\nstart\nrestart" {
		t.Errorf("events of restart: %q, want dockerd's kill, die, stop, start, restart", ev)
	}
	if s := inspectField(d, "again", "{{.State.Status}} {{.RestartCount}}"); s != "running 0" {
		t.Errorf("after restart: %q", s)
	}
}

// TestFeatureStopSignalFlag: stop --signal sends that signal instead of the
// container's stop signal (API 1.42+).
func TestFeatureStopSignalFlag(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "-d", "--name", "sig", "busybox", "sh", "-c", "trap 'exit 42' USR2; trap '' TERM; echo ready; while true; do sleep 0.1; done")
	waitFor(t, 5*time.Second, "sig to be ready", func() (bool, string) {
		r := d.Capsa("logs", "sig")
		return r.Stdout == "ready\n", r.Stdout
	})
	if r := d.Capsa("stop", "--signal", "USR2", "-t", "5", "sig"); r.Code != 0 {
		t.Fatalf("stop --signal USR2: %v", r)
	}
	if code := d.MustCapsa("inspect", "-f", "{{.State.ExitCode}}", "sig"); code != "42" {
		t.Errorf("exit code after stop --signal USR2: %s, want 42 (the trap's)", code)
	}
	if r := d.Capsa("stop", "--signal", "NOPE", "sig"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid signal") {
		t.Errorf("stop --signal NOPE: %v", r)
	}
}
