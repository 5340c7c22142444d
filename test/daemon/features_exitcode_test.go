package daemon_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureExitCodes: run passes on the container's exit code, and the
// CLI's own codes as docker's: 125 for the daemon or bad flags, 126 for a
// command that cannot be run, 127 for a command not found; a failed run
// leaves no container and no mount behind.
func TestFeatureExitCodes(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	if r := d.Capsa("run", "--rm", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
		t.Errorf("run exit 3: %v", r)
	}
	if r := d.Capsa("run", "--rm", "busybox", "true"); r.Code != 0 {
		t.Errorf("run true: %v", r)
	}
	before := d.IDs()
	mountsBefore := daemontest.Mounts(d.ExecRoot, d.DataRoot)

	r := d.Capsa("run", "--rm", "busybox", "no-such-command")
	if r.Code != 127 || !strings.Contains(r.Stderr, "no-such-command") || !strings.Contains(r.Stderr, "executable file not found") {
		t.Errorf("run of an unknown command: want 127 and docker's message naming it; %v", r)
	}
	r = d.Capsa("run", "--rm", "busybox", "/etc/passwd")
	if r.Code != 126 || !strings.Contains(r.Stderr, "permission denied") {
		t.Errorf("run of a file that is not executable: want 126 and permission denied; %v", r)
	}
	r = d.Capsa("run", "--rm", "-m", "4XB", "busybox", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, `invalid argument "4XB" for "-m, --memory" flag`) {
		t.Errorf("run -m 4XB: want 125 and docker's flag message; %v", r)
	}
	r = d.Capsa("run", "--rm", "no-such-image:v1", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "no-such-image") {
		t.Errorf("run of an unknown image: want 125 and a message naming it; %v", r)
	}
	// The container that could not start stays, as docker's (created,
	// with the error in State.Error) only without --rm.
	r = d.Capsa("run", "--name", "nocmd", "busybox", "no-such-command")
	if r.Code != 127 {
		t.Errorf("run (no --rm) of an unknown command: %v", r)
	}
	if st := inspectField(d, "nocmd", "{{.State.Status}} {{.State.ExitCode}}"); st != "created 127" && st != "exited 127" {
		t.Errorf("state of a container whose command was not found: %q, want docker's created/exited 127", st)
	}
	if e := inspectField(d, "nocmd", "{{.State.Error}}"); !strings.Contains(e, "no-such-command") {
		t.Errorf("State.Error of a container whose command was not found: %q", e)
	}
	d.MustCapsa("rm", "nocmd")

	after := d.IDs()
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("containers left by failed runs: before %v, after %v", before, after)
	}
	if m := daemontest.Mounts(d.ExecRoot, d.DataRoot); len(m) != len(mountsBefore) {
		t.Errorf("mounts left by failed runs: before %v, after %v", mountsBefore, m)
	}
	if r := d.Capsa("ps", "-a", "-q"); r.Code != 0 || r.Stdout != "" {
		t.Errorf("ps -a after the failed runs: %v", r)
	}
}
