package daemon_test

import (
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureUpdate: docker update changes a running container's limits
// (seen in its cgroup from inside), keeps them for its next start, shows
// them in inspect, and changes its restart policy.
func TestFeatureUpdate(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "-d", "--name", "up", "-m", "64m", "busybox", "sleep", "1000")
	limit := func() string {
		return d.MustCapsa("exec", "up", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	}
	if got := limit(); got != "67108864" {
		t.Fatalf("memory limit before update: %s", got)
	}
	if r := d.Capsa("update", "-m", "32m", "--pids-limit", "50", "--restart", "on-failure:3", "up"); r.Code != 0 || r.Stdout != "up\n" {
		t.Fatalf("update: %v", r)
	}
	if got := limit(); got != "33554432" {
		t.Errorf("memory limit after update: %s, want 33554432", got)
	}
	if got := d.MustCapsa("exec", "up", "cat", "/sys/fs/cgroup/pids/pids.max"); got != "50" {
		t.Errorf("pids.max after update: %s, want 50", got)
	}
	if s := inspectField(d, "up", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"); s != "33554432 50 on-failure 3" {
		t.Errorf("inspect after update: %q", s)
	}
	d.MustCapsa("restart", "-t", "0", "up")
	if got := limit(); got != "33554432" {
		t.Errorf("memory limit after a restart: %s, want the updated 33554432", got)
	}
	if r := d.Capsa("update", "up"); r.Code == 0 {
		t.Errorf("update without flags: %v", r)
	}
	if r := d.Capsa("update", "-m", "4XB", "up"); r.Code == 0 || !strings.Contains(r.Stderr, "4XB") {
		t.Errorf("update -m 4XB: %v", r)
	}
	if r := d.Capsa("update", "--restart", "always", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch") {
		t.Errorf("update of a missing container: %v", r)
	}
	d.MustCapsa("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000")
	if r := d.Capsa("update", "--restart", "always", "gone"); r.Code == 0 || !strings.Contains(r.Stderr, "AutoRemove") {
		t.Errorf("update --restart of a --rm container: %v", r)
	}
	// The docker CLI's update goes through the same endpoint.
	if r := d.Docker("update", "--memory", "48m", "--memory-swap", "96m", "up"); r.Code != 0 {
		t.Errorf("docker update: %v", r)
	}
	if got := limit(); got != "50331648" {
		t.Errorf("memory limit after docker update: %s, want 50331648", got)
	}
}
