package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureHealthcheck: --health-cmd goes starting → unhealthy after
// its retries, then healthy once the check passes; ps, inspect and events
// show it as docker's.
func TestFeatureHealthcheck(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	since := time.Now().Format(time.RFC3339Nano)

	d.MustCapsa("run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
		"--health-retries", "2", "--health-start-period", "0s", "busybox", "sleep", "1000")
	if s := inspectField(d, "hc", "{{.State.Health.Status}}"); s != "starting" && s != "unhealthy" {
		t.Errorf("health right after run: %q, want starting", s)
	}
	if s := inspectField(d, "hc", "{{json .Config.Healthcheck}}"); s != `{"Test":["CMD-SHELL","test -e /tmp/ok"],"Interval":200000000,"Retries":2}` {
		t.Errorf("Config.Healthcheck: %s", s)
	}
	waitFor(t, 10*time.Second, "unhealthy", func() (bool, string) {
		s := inspectField(d, "hc", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}")
		return strings.HasPrefix(s, "unhealthy "), s
	})
	if out := d.MustCapsa("ps", "--format", "{{.Status}}"); !strings.HasSuffix(out, "(unhealthy)") {
		t.Errorf("ps of an unhealthy container: %q", out)
	}
	d.MustCapsa("exec", "hc", "touch", "/tmp/ok")
	waitFor(t, 10*time.Second, "healthy", func() (bool, string) {
		s := inspectField(d, "hc", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}")
		return s == "healthy 0", s
	})
	if out := d.MustCapsa("ps", "--format", "{{.Status}}"); !strings.HasSuffix(out, "(healthy)") {
		t.Errorf("ps of a healthy container: %q", out)
	}
	if out := d.MustCapsa("ps", "--filter", "health=healthy", "--format", "{{.Names}}"); out != "hc" {
		t.Errorf("ps --filter health=healthy: %q", out)
	}
	log := inspectField(d, "hc", `{{range .State.Health.Log}}{{.ExitCode}} {{end}}`)
	if !strings.HasSuffix(log, "0 ") || !strings.Contains(log, "1 ") {
		t.Errorf("Health.Log exit codes %q: want failures then a success", log)
	}
	if n := len(strings.Fields(log)); n > 5 {
		t.Errorf("Health.Log keeps %d results, docker keeps 5", n)
	}
	if s := inspectField(d, "hc", `{{with index .State.Health.Log 0}}{{if .Start.IsZero}}zero{{else}}ok{{end}} {{if .End.IsZero}}zero{{else}}ok{{end}}{{end}}`); s != "ok ok" {
		t.Errorf("Health.Log entries' Start and End: %q", s)
	}
	until := time.Now().Format(time.RFC3339Nano)
	ev := d.MustCapsa("events", "--since", since, "--until", until, "--filter", "container=hc", "--filter", "event=health_status", "--format", "{{.Action}}")
	if !containsLine(ev, "health_status: unhealthy") || !containsLine(ev, "health_status: healthy") {
		t.Errorf("health_status events: %q", ev)
	}
	// Each check is an exec in the events, as dockerd reports it.
	ev = d.MustCapsa("events", "--since", since, "--until", until, "--filter", "container=hc", "--format", "{{.Action}}")
	if !containsLine(ev, "exec_create: /bin/sh -c test -e /tmp/ok") || !containsLine(ev, "exec_start: /bin/sh -c test -e /tmp/ok") || !containsLine(ev, "exec_die") {
		t.Errorf("the checks' exec events: %q", ev)
	}
	if out := d.MustCapsa("events", "--since", since, "--until", until, "--filter", "container=hc", "--filter", "event=exec_die", "--format", "{{.Actor.Attributes.exitCode}}"); !containsLine(out, "1") || !containsLine(out, "0") {
		t.Errorf("exec_die exit codes of the checks: %q", out)
	}

	// A check's output is in the log; a check that times out fails.
	d.MustCapsa("run", "-d", "--name", "hcout", "--health-cmd", "echo checked-out; sleep 5", "--health-interval", "200ms",
		"--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "1000")
	waitFor(t, 10*time.Second, "a check that times out to make it unhealthy", func() (bool, string) {
		s := inspectField(d, "hcout", "{{.State.Health.Status}}")
		return s == "unhealthy", s
	})
	if out := inspectField(d, "hcout", `{{with index .State.Health.Log 0}}{{.ExitCode}}|{{.Output}}{{end}}`); !strings.HasPrefix(out, "-1|Health check exceeded timeout") {
		t.Errorf("Health.Log of a timed-out check: %q", out)
	}
	// --no-healthcheck and a container without one: no Health.
	d.MustCapsa("run", "-d", "--name", "nohc", "busybox", "sleep", "1000")
	if s := inspectField(d, "nohc", "{{if .State.Health}}health{{else}}none{{end}}"); s != "none" {
		t.Errorf("State.Health of a container without a check: %q", s)
	}
	// A stopped container's health is not left as healthy.
	d.MustCapsa("stop", "-t", "0", "hc")
	if s := inspectField(d, "hc", "{{.State.Health.Status}}"); s != "unhealthy" {
		t.Errorf("health after stop: %q, want docker's unhealthy", s)
	}
}
