package cli_test

import (
	"strings"
	"testing"
	"time"
)

func TestRunExitCodePropagates(t *testing.T) {
	ensureImage(t)
	r := runCapsa(t, nil, "run", "--rm", "-l", testLabel, testImage, "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 {
		t.Errorf("exit %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("stdout %q stderr %q, want out/err on their own streams", r.stdout, r.stderr)
	}
}

func TestRunStdin(t *testing.T) {
	ensureImage(t)
	r := runCapsa(t, strings.NewReader("one\ntwo\n"), "run", "--rm", "-i", "-l", testLabel, testImage, "wc", "-l")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "2" {
		t.Errorf("run -i wc -l: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestRunErrors(t *testing.T) {
	ensureImage(t)
	r := runCapsa(t, nil, "run", "-m", "4XB", testImage)
	if r.code != 125 || !strings.Contains(r.stderr, `invalid argument "4XB" for "-m, --memory" flag`) {
		t.Errorf("-m 4XB: exit %d stderr %q, want 125 and the flag's error", r.code, r.stderr)
	}
	n := name(t, "nocmd")
	r = runCapsa(t, nil, "run", "--name", n, "-l", testLabel, testImage, "/no/such/command")
	if r.code != 127 {
		t.Errorf("missing command: exit %d (stderr %q), want 127", r.code, r.stderr)
	}
	n = name(t, "dir")
	r = runCapsa(t, nil, "run", "--name", n, "-l", testLabel, testImage, "/etc")
	if r.code != 126 {
		t.Errorf("directory as command: exit %d (stderr %q), want 126", r.code, r.stderr)
	}
	r = runCapsa(t, nil, "rm", "capsa-cli-no-such-container")
	if r.code != 1 || !strings.Contains(r.stderr, "No such container: capsa-cli-no-such-container") {
		t.Errorf("rm missing: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestRunDetachedLifecycle(t *testing.T) {
	ensureImage(t)
	n := name(t, "web")
	id := strings.TrimSpace(capsa(t, "run", "-d", "--name", n, "-l", testLabel, "-e", "GREETING=hello", testImage,
		"sh", "-c", "echo $GREETING; trap 'exit 0' TERM; while true; do sleep 0.1; done"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a full id", id)
	}

	ps := capsa(t, "ps", "--filter", "name="+n)
	lines := strings.Split(strings.TrimSpace(ps), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID   IMAGE") || !strings.HasPrefix(lines[1], id[:12]+"   ") ||
		!strings.Contains(lines[1], " Up ") || !strings.HasSuffix(lines[1], n) {
		t.Errorf("ps:\n%s", ps)
	}
	if got := strings.TrimSpace(capsa(t, "ps", "-q", "--no-trunc", "--filter", "name="+n)); got != id {
		t.Errorf("ps -q --no-trunc: %q, want %q", got, id)
	}

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(capsa(t, "logs", n), "hello") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := capsa(t, "logs", n); got != "hello\n" {
		t.Errorf("logs: %q", got)
	}

	if got := capsa(t, "exec", "-w", "/tmp", "-e", "X=1", n, "sh", "-c", "echo $X $(pwd)"); got != "1 /tmp\n" {
		t.Errorf("exec: %q", got)
	}
	if r := runCapsa(t, nil, "exec", n, "sh", "-c", "exit 4"); r.code != 4 {
		t.Errorf("exec exit code: %d, want 4", r.code)
	}

	if got := capsa(t, "inspect", "-f", "{{.State.Status}} {{.Id}} {{json .Config.Env}}", n); !strings.HasPrefix(got, "running "+id+" [") || !strings.Contains(got, `"GREETING=hello"`) {
		t.Errorf("inspect -f: %q", got)
	}
	if got := capsa(t, "inspect", n); !strings.HasPrefix(got, "[\n    {\n        \"Id\": \""+id+"\"") {
		t.Errorf("inspect: %.200q", got)
	}

	start := time.Now()
	if got := capsa(t, "stop", n); got != n+"\n" {
		t.Errorf("stop printed %q", got)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stop took %s for a container that exits on TERM", d)
	}
	if got := capsa(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", n); got != "exited 0\n" {
		t.Errorf("after stop: %q", got)
	}
	if got := capsa(t, "ps", "-a", "--filter", "name="+n, "--format", "{{.Names}} {{.State}}"); got != n+" exited\n" {
		t.Errorf("ps -a after stop: %q", got)
	}
	if got := capsa(t, "rm", n); got != n+"\n" {
		t.Errorf("rm printed %q", got)
	}
	if r := runCapsa(t, nil, "inspect", n); r.code != 1 || r.stdout != "[]\n" {
		t.Errorf("inspect after rm: exit %d stdout %q", r.code, r.stdout)
	}
}
