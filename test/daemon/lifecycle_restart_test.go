package daemon_test

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestDaemonRestartKeepsContainers: containers outlive capsad, whether it
// is killed (-9) or stopped, and the restarted capsad finds them again
// with the same processes, their whole log, one shim each, and every
// command working on them.
func TestDaemonRestartKeepsContainers(t *testing.T) {
	for _, how := range []string{"kill9", "stop"} {
		t.Run(how, func(t *testing.T) {
			d := daemontest.Start(t)
			d.ImportBusybox()
			testOutage(t, d, func() {
				if how == "kill9" {
					d.Kill9()
				} else {
					d.Stop()
				}
			})
		})
	}
}

func testOutage(t *testing.T, d *daemontest.Daemon, down func()) {
	names := []string{"writer", "sleeper", "idle"}
	d.MustCapsa("run", "-d", "--name", "writer", "busybox", "sh", "-c", writerCmd)
	d.MustCapsa("run", "-d", "--name", "sleeper", "busybox", "sleep", "1000")
	d.MustCapsa("run", "-d", "--name", "idle", "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done")
	pids := map[string]int{}
	ids := map[string]string{}
	for _, n := range names {
		pids[n] = inspectPid(t, d, n)
		ids[n] = inspect(d, n, "{{.Id}}")
	}
	logPath := inspect(d, "writer", "{{.LogPath}}")
	if !strings.HasPrefix(logPath, d.DataRoot+"/") {
		t.Fatalf("writer's LogPath %q is not under the data root", logPath)
	}
	time.Sleep(500 * time.Millisecond)

	down()
	size0 := fileSize(logPath)
	time.Sleep(1500 * time.Millisecond)
	for _, n := range names {
		if !alive(pids[n]) {
			t.Errorf("%s (pid %d) died with capsad", n, pids[n])
		}
	}
	if size1 := fileSize(logPath); size1 <= size0 {
		t.Errorf("the writer's log did not grow while capsad was down: %d then %d bytes", size0, size1)
	}
	if shims := d.Shims(); len(shims) != 3 {
		t.Errorf("shims while capsad is down: %v, want 3", shims)
	}

	d.Restart()
	out := d.MustCapsa("ps", "--format", "{{.Names}} {{.State}}")
	got := strings.Split(out, "\n")
	slices.Sort(got)
	if want := []string{"idle running", "sleeper running", "writer running"}; !slices.Equal(got, want) {
		t.Errorf("ps after restart: %q, want %q", got, want)
	}
	for _, n := range names {
		if p := inspectPid(t, d, n); p != pids[n] {
			t.Errorf("%s: pid %d after restart, was %d", n, p, pids[n])
		}
	}
	shims := d.Shims()
	if len(shims) != 3 {
		t.Errorf("shims after restart: %v, want one per container", shims)
	}
	for _, n := range names {
		found := 0
		for _, p := range shims {
			if shimOf(p) == ids[n] {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%s has %d shims, want 1", n, found)
		}
	}

	// Every number, none lost across the outage.
	time.Sleep(300 * time.Millisecond)
	n0 := checkNumbers(t, d.MustCapsa("logs", "writer"), 20)

	// logs -f follows: it prints what is there and then the new lines.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.Bin, "capsa"), "-H", d.Host, "logs", "-f", "writer")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	next := 0
	for next < n0+10 && sc.Scan() {
		if sc.Text() != strconv.Itoa(next) {
			t.Errorf("logs -f: line %d is %q", next, sc.Text())
			break
		}
		next++
	}
	cancel()
	_ = cmd.Wait()
	if next < n0+10 {
		t.Errorf("logs -f: %d lines, want at least %d (it did not follow)", next, n0+10)
	}

	if out := d.MustCapsa("exec", "sleeper", "echo", "hi"); out != "hi" {
		t.Errorf("exec after restart: %q", out)
	}
	start := time.Now()
	d.MustCapsa("stop", "idle")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stop of a container that exits on TERM took %v", el)
	}
	if s := inspect(d, "idle", "{{.State.Status}} {{.State.ExitCode}}"); s != "exited 0" {
		t.Errorf("idle after stop: %q", s)
	}
	if alive(pids["idle"]) {
		t.Errorf("idle's process %d alive after stop", pids["idle"])
	}
	d.MustCapsa("stop", "-t", "0", "writer")
	if alive(pids["writer"]) {
		t.Errorf("writer's process %d alive after stop", pids["writer"])
	}
	checkNumbers(t, d.MustCapsa("logs", "writer"), n0+10)
	d.MustCapsa("rm", "-f", "sleeper")
	d.MustCapsa("rm", "idle", "writer")
	if alive(pids["sleeper"]) {
		t.Errorf("sleeper's process %d alive after rm -f", pids["sleeper"])
	}
	checkNothingLeft(t, d, []string{ids["writer"], ids["sleeper"], ids["idle"]})
}

// shimOf is the --id of capsa-shim process pid.
func shimOf(pid int) string {
	b, _ := readFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if a == "--id" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestExitWhileDaemonDown: what happens to containers while capsad is
// down is seen after its restart, as dockerd's restore does: the real
// exit code, the restart policy applied, --rm containers removed.
func TestExitWhileDaemonDown(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()
	d.MustCapsa("run", "-d", "--name", "seven", "busybox", "sh", "-c", "sleep 1; exit 7")
	d.MustCapsa("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 1; exit 3")
	auto := d.MustCapsa("run", "-d", "--rm", "--name", "auto", "busybox", "sh", "-c", "sleep 1; exit 0")
	// Stopped by a user, then started again: unless-stopped applies once
	// more, across the restart of capsad too.
	d.MustCapsa("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 1; exit 5")
	d.MustCapsa("stop", "-t", "0", "unless")
	d.MustCapsa("start", "unless")
	unlessPid := inspectPid(t, d, "unless")
	alwaysPid := inspectPid(t, d, "always")
	d.Kill9()
	time.Sleep(2 * time.Second)
	if alive(alwaysPid) {
		t.Fatalf("always's first process (pid %d) still runs", alwaysPid)
	}
	d.Restart()
	if s := inspect(d, "seven", "{{.State.Status}} {{.State.ExitCode}}"); s != "exited 7" {
		t.Errorf("seven after restart: %q, want exited 7", s)
	}
	if r := d.Capsa("ps", "-a", "--filter", "name=seven", "--format", "{{.Status}}"); !strings.HasPrefix(r.Stdout, "Exited (7)") {
		t.Errorf("ps of seven: %v", r)
	}
	if !waitUntil(5*time.Second, func() bool {
		return inspect(d, "always", "{{.State.Running}}") == "true"
	}) {
		t.Errorf("always is not running again after restart: %s", inspect(d, "always", "{{.State.Status}} {{.State.ExitCode}}"))
	} else if p := inspectPid(t, d, "always"); p == alwaysPid || !alive(p) {
		t.Errorf("always runs with pid %d (was %d, alive %v)", p, alwaysPid, alive(p))
	}
	if !waitUntil(5*time.Second, func() bool {
		return inspect(d, "unless", "{{.State.Running}}") == "true"
	}) {
		t.Errorf("unless-stopped, started again after a stop, is not running after restart: %s", inspect(d, "unless", "{{.State.Status}} {{.State.ExitCode}}"))
	} else if p := inspectPid(t, d, "unless"); p == unlessPid {
		t.Errorf("unless runs with its old pid %d", p)
	}
	if !waitUntil(5*time.Second, func() bool {
		r := d.Capsa("inspect", auto)
		return r.Code != 0
	}) {
		t.Errorf("--rm container that exited while capsad was down is still there: %s", inspect(d, auto, "{{.State.Status}}"))
	}
	if d.Capsa("ps", "-aq", "--filter", "name=auto").Stdout != "" {
		t.Errorf("ps -a lists the --rm container")
	}
	if ents := dirEntries(filepath.Join(d.DataRoot, "containers")); slices.Contains(ents, auto) {
		t.Errorf("the --rm container's bundle is left")
	}
}
