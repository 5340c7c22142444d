package daemon_test

import (
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureOOM: a container past its -m limit is killed by the kernel;
// inspect says OOMKilled, the exit code is 137, and events has oom.
func TestFeatureOOM(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	r := d.Capsa("run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
	if r.Code != 137 {
		t.Errorf("run of a memory hog under -m 16m: want 137; %v", r)
	}
	if got := inspectField(d, "hog", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}} {{.HostConfig.Memory}}"); got != "true 137 exited 16777216" {
		t.Errorf("inspect of the OOM-killed container: %q, want \"true 137 exited 16777216\"", got)
	}
	if out := d.MustCapsa("events", "--since", "0", "--until", time.Now().Format(time.RFC3339Nano), "--filter", "container=hog", "--format", "{{.Action}}"); !containsLine(out, "oom") {
		t.Errorf("events of the OOM-killed container: %q, want an oom", out)
	}
	// A run that stays under the limit is not marked.
	d.MustCapsa("run", "--name", "small", "-m", "16m", "busybox", "true")
	if got := inspectField(d, "small", "{{.State.OOMKilled}} {{.State.ExitCode}}"); got != "false 0" {
		t.Errorf("inspect of a container under its limit: %q", got)
	}
}
