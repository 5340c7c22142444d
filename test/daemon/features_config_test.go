package daemon_test

import (
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureRunConfig: -h, -e, -w, -t as the process sees them and as
// inspect and ps show them, docker's way.
func TestFeatureRunConfig(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	out := d.MustCapsa("run", "--name", "cfg", "-h", "myhost", "-e", "FOO=bar", "-w", "/tmp", "busybox", "sh", "-c", `echo "$(hostname) $HOSTNAME $FOO $(pwd) ${TERM:-noterm}"`)
	if out != "myhost myhost bar /tmp noterm" {
		t.Errorf("inside a -h myhost -e FOO=bar -w /tmp container: %q", out)
	}
	id := inspectField(d, "cfg", "{{.Id}}")
	// Without -h the hostname is the short ID.
	if out := d.MustCapsa("run", "--rm", "busybox", "sh", "-c", `echo "$(hostname) $HOSTNAME"`); len(out) != 25 || out[:12] != out[13:] {
		t.Errorf("default hostname and HOSTNAME: %q", out)
	}
	if out := d.MustCapsa("run", "--rm", "-t", "busybox", "sh", "-c", `echo $TERM`); strings.TrimSpace(out) != "xterm" {
		t.Errorf("TERM under -t: %q", out)
	}
	if out := d.MustCapsa("run", "--rm", "-t", "-e", "TERM=vt100", "-e", "HOSTNAME=mine", "busybox", "sh", "-c", `echo $TERM $HOSTNAME`); strings.TrimSpace(out) != "vt100 mine" {
		t.Errorf("-e TERM and -e HOSTNAME: %q", out)
	}
	// Config.Env has what the image and the user set, not what the daemon
	// adds at start (HOSTNAME, TERM).
	env := inspectField(d, "cfg", "{{json .Config.Env}}")
	if !strings.Contains(env, `"FOO=bar"`) || strings.Contains(env, "HOSTNAME=") {
		t.Errorf("Config.Env: %s", env)
	}
	if s := inspectField(d, "cfg", "{{.Config.Hostname}} {{.Config.WorkingDir}} {{.Path}} {{json .Args}}"); s != `myhost /tmp sh ["-c","echo \"$(hostname) $HOSTNAME $FOO $(pwd) ${TERM:-noterm}\""]` {
		t.Errorf("inspect: %s", s)
	}
	// ps quotes the arguments with spaces, as dockerd's Command.
	if out := d.MustCapsa("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"); out != id+` "sh -c 'echo \"$(hostname) $HOSTNAME $FOO $(pwd) ${TERM:-noterm}\"'"` {
		t.Errorf("ps --no-trunc Command: %s", out)
	}
	// Truncated as docker's CLI truncates it.
	if out, dr := d.MustCapsa("ps", "-a", "--format", "{{.Command}}"), d.Docker("ps", "-a", "--format", "{{.Command}}"); out+"\n" != dr.Stdout {
		t.Errorf("ps Command: capsa %s, docker %v", out, dr)
	}
}
