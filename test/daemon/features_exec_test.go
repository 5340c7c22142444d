package daemon_test

import (
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureExec: exec joins the container's namespaces and takes -e, -w,
// -u; its exit code is the CLI's.
func TestFeatureExec(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "-d", "--name", "box", "-e", "FROM_RUN=r", "-w", "/tmp", "busybox", "sleep", "1000")

	for _, ns := range []string{"pid", "mnt", "net", "uts", "ipc", "cgroup"} {
		init := d.MustCapsa("exec", "box", "readlink", "/proc/1/ns/"+ns)
		self := d.MustCapsa("exec", "box", "readlink", "/proc/self/ns/"+ns)
		if init == "" || init != self {
			t.Errorf("exec's %s namespace %q, the container's PID 1's %q", ns, self, init)
		}
		host, _ := readlinkHost("/proc/self/ns/" + ns)
		if ns != "cgroup" && self == host {
			t.Errorf("exec's %s namespace is the host's (%s)", ns, host)
		}
	}
	if out := d.MustCapsa("exec", "box", "sh", "-c", "echo $$"); out == "1" {
		t.Errorf("exec's shell is PID 1")
	}

	if out := d.MustCapsa("exec", "-e", "A=1", "-e", "B=two words", "box", "sh", "-c", `echo "$A|$B|$FROM_RUN"`); out != "1|two words|r" {
		t.Errorf("exec -e: %q", out)
	}
	if out := d.MustCapsa("exec", "box", "pwd"); out != "/tmp" {
		t.Errorf("exec's working directory %q, want the container's /tmp", out)
	}
	if out := d.MustCapsa("exec", "-w", "/etc", "box", "pwd"); out != "/etc" {
		t.Errorf("exec -w /etc: %q", out)
	}
	if out := d.MustCapsa("exec", "-u", "1234:1001", "box", "id"); out != "uid=1234 gid=1001 groups=1001" {
		t.Errorf("exec -u 1234:1001 id: %q", out)
	}
	if out := d.MustCapsa("exec", "-u", "nobody", "box", "id", "-u"); out != "65534" {
		t.Errorf("exec -u nobody: %q", out)
	}
	if out := d.MustCapsa("exec", "box", "id", "-u"); out != "0" {
		t.Errorf("exec as the default user: %q", out)
	}
	if r := d.Capsa("exec", "box", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("exec exit 7: %v", r)
	}
	// dockerd 20.10 answers 126, later ones 127; either way the message
	// names the command (on stdout, where dockerd writes it).
	if r := d.Capsa("exec", "box", "no-such-command"); (r.Code != 127 && r.Code != 126) || !strings.Contains(r.Stdout+r.Stderr, `"no-such-command": executable file not found`) {
		t.Errorf("exec of an unknown command: want 126 or 127 and the error; %v", r)
	}
	if r := d.Capsa("exec", "box", "no-such-command"); strings.Count(r.Stdout+r.Stderr, "in container") > 1 {
		t.Errorf("exec of an unknown command: the error names the container more than once: %v", r)
	}
	if r := d.Docker("exec", "box", "no-such-command"); (r.Code != 127 && r.Code != 126) || !strings.Contains(r.Stdout+r.Stderr, `"no-such-command": executable file not found`) {
		t.Errorf("docker exec of an unknown command: want 126 or 127 and the error; %v", r)
	}
	if r := d.CapsaIn([]byte("from-stdin\n"), "exec", "-i", "box", "cat"); r.Code != 0 || r.Stdout != "from-stdin\n" {
		t.Errorf("exec -i cat: %v", r)
	}
	if r := d.Capsa("exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"); r.Code != 0 {
		t.Errorf("exec -d: %v", r)
	}
	waitFor(t, 5*e2eSecond, "exec -d's file", func() (bool, string) {
		r := d.Capsa("exec", "box", "cat", "/tmp/d")
		return r.Stdout == "detached\n", r.String()
	})
	d.MustCapsa("stop", "-t", "0", "box")
	if r := d.Capsa("exec", "box", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "is not running") {
		t.Errorf("exec in a stopped container: %v", r)
	}
}
