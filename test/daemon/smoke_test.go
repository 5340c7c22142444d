package daemon_test

import (
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestDockerCLIScenario drives capsad with Debian's docker CLI, unchanged.
func TestDockerCLIScenario(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	if r := d.Docker("run", "--rm", "busybox", "echo", "hello"); r.Code != 0 || r.Stdout != "hello\n" {
		t.Fatalf("docker run: %v", r)
	}
	if r := d.Docker("run", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
		t.Fatalf("docker run exit 3: %v", r)
	}
	r := d.Docker("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; while true; do sleep 1; done")
	if r.Code != 0 {
		t.Fatalf("docker run -d: %v", r)
	}
	if r := d.Docker("ps", "--format", "{{.Names}} {{.Status}}"); r.Code != 0 || len(r.Stdout) < 4 || r.Stdout[:4] != "web " {
		t.Fatalf("docker ps: %v", r)
	}
	if r := d.Docker("exec", "web", "cat", "/proc/1/cmdline"); r.Code != 0 {
		t.Fatalf("docker exec: %v", r)
	}
	if r := d.Docker("logs", "web"); r.Code != 0 || r.Stdout != "started\n" {
		t.Fatalf("docker logs: %v", r)
	}
	if r := d.Docker("inspect", "-f", "{{.State.Running}} {{.Name}}", "web"); r.Stdout != "true /web\n" {
		t.Fatalf("docker inspect: %v", r)
	}
	if r := d.Docker("stop", "-t", "1", "web"); r.Code != 0 {
		t.Fatalf("docker stop: %v", r)
	}
	if r := d.Docker("rm", "web"); r.Code != 0 {
		t.Fatalf("docker rm: %v", r)
	}
	if r := d.Docker("rm", "web"); r.Code != 1 || r.Stderr != "Error: No such container: web\n" && r.Stderr != "Error response from daemon: No such container: web\n" {
		t.Fatalf("docker rm of a removed container: %v", r)
	}
}

// TestRunOutputEveryTime: docker run attaches, then starts; the start must
// find the attach registered, or a short command's output is lost (the
// API answered the attach before registering it: now and then docker run
// printed nothing).
func TestRunOutputEveryTime(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	for i := range 25 {
		if r := d.Capsa("run", "--rm", "busybox", "echo", "hello"); r.Code != 0 || r.Stdout != "hello\n" {
			t.Fatalf("capsa run %d: %v", i, r)
		}
		if r := d.Docker("run", "--rm", "busybox", "echo", "hello"); r.Code != 0 || r.Stdout != "hello\n" {
			t.Fatalf("docker run %d: %v", i, r)
		}
	}
}
