package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// TestLogStreams: each line lands in the json-file log with its stream.
func TestLogStreams(t *testing.T) {
	e := newEnv(t, "sh", "-c", "echo out1; echo err1 >&2; echo out2")
	e.start(t, false, false)
	st, err := e.client.Wait(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 || st.Status != shim.StatusStopped {
		t.Errorf("wait = %+v, want stopped with 0", st)
	}
	got := map[string]string{}
	for _, en := range e.logEntries(t) {
		got[en.Log] = en.Stream
		if time.Since(en.Time) > time.Minute || en.Time.Location() != time.UTC {
			t.Errorf("entry %+v: time not a recent UTC time", en)
		}
	}
	want := map[string]string{"out1\n": "stdout", "err1\n": "stderr", "out2\n": "stdout"}
	for l, s := range want {
		if got[l] != s {
			t.Errorf("log line %q: stream %q, want %q (log: %v)", l, got[l], s, got)
		}
	}
}

// TestExitCodeAndShutdown: exit 3 is recorded in exit.json and returned by
// wait; shutdown then leaves no socket, runtime state, cgroup or process.
func TestExitCodeAndShutdown(t *testing.T) {
	e := newEnv(t, "sh", "-c", "sleep 0.2; exit 3")
	e.start(t, false, false)
	sock := filepath.Join(e.stateDir, shim.SocketName)
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: mode %v, want a 0600 socket", sock, fi.Mode())
	}
	if len(cgroupDirs(e.id)) == 0 {
		t.Errorf("no cgroup for the running container")
	}
	// Without force, shutdown refuses while the container runs.
	if _, err := e.client.Shutdown(ctxT(t, 5*time.Second), false); err == nil || !strings.Contains(err.Error(), e.id) {
		t.Errorf("shutdown of a running container: %v, want an error naming %q", err, e.id)
	}
	st, err := e.client.Wait(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 3 {
		t.Errorf("wait: exit code %d, want 3", st.ExitCode)
	}
	ex, err := shim.ReadExit(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if ex.ExitCode != 3 || ex.ID != e.id || !ex.ExitedAt.Equal(st.ExitedAt) || ex.Pid != st.Pid {
		t.Errorf("exit.json = %+v, want code 3 as wait said (%+v)", ex, st)
	}
	if err := e.client.Kill(ctxT(t, 5*time.Second), "TERM", false); err == nil {
		t.Errorf("kill of an exited container succeeded")
	}
	if _, err := e.client.Shutdown(ctxT(t, 10*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if !gone(e.shimPid, 5*time.Second) {
		t.Errorf("shim %d still runs after shutdown", e.shimPid)
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Errorf("socket %s left behind", sock)
	}
	if _, err := os.Stat(filepath.Join(e.rtRoot, e.id)); err == nil {
		t.Errorf("runtime state %s left behind", filepath.Join(e.rtRoot, e.id))
	}
	if d := cgroupDirs(e.id); len(d) > 0 {
		t.Errorf("cgroups left behind: %v", d)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/capsa/" + e.id); err == nil {
		t.Errorf("memory cgroup left behind")
	}
	ents, _ := os.ReadDir(e.stateDir)
	for _, en := range ents {
		if en.Name() != shim.ExitName {
			t.Errorf("state dir keeps %s; want only %s", en.Name(), shim.ExitName)
		}
	}
	if alive(st.Pid) {
		t.Errorf("container init %d still runs", st.Pid)
	}
}

// TestKillRecordsSignal: a container killed by SIGKILL exits 128+9.
func TestKillRecordsSignal(t *testing.T) {
	e := newEnv(t, "sleep", "100")
	e.start(t, false, false)
	if err := e.client.Kill(ctxT(t, 5*time.Second), "KILL", false); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Wait(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 {
		t.Errorf("exit code %d, want 137", st.ExitCode)
	}
	if err := e.client.Kill(ctxT(t, 5*time.Second), "-9", false); err == nil || !strings.Contains(err.Error(), e.id) {
		t.Errorf("kill with a bad signal: %v, want an error naming the container", err)
	}
}

// TestSurvivesCallerKill: SIGKILL to the shim's caller leaves shim and
// container running, and logging.
func TestSurvivesCallerKill(t *testing.T) {
	e := newEnv(t, "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done")
	e.start(t, false, false) // writes config.json; this first shim is stopped at once
	if _, err := e.client.Shutdown(ctxT(t, 10*time.Second), true); err != nil {
		t.Fatal(err)
	}
	gone(e.shimPid, 5*time.Second)
	os.Remove(e.logPath)

	// The caller: a shell that runs the shim in the foreground and waits.
	args := append([]string{shimBin}, shim.Args(e.config(false, false))...)
	caller := exec.Command("sh", "-c", `"$@"; sleep 100`, "sh")
	caller.Args = append(caller.Args, args...)
	out, err := caller.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	callerDone := make(chan struct{})
	go func() { caller.Wait(); close(callerDone) }()
	t.Cleanup(func() { caller.Process.Kill(); <-callerDone })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, `"pid"`) {
		t.Fatalf("ready line %q: %v", line, err)
	}
	shimPid := shimChild(t, caller.Process.Pid)
	e.shimPid = shimPid
	if err := caller.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-callerDone
	lines := func() int {
		b, _ := os.ReadFile(e.logPath)
		return bytes.Count(b, []byte("\n"))
	}
	n := lines()
	time.Sleep(500 * time.Millisecond)
	if !alive(shimPid) {
		t.Fatalf("shim %d died with its caller", shimPid)
	}
	st, err := e.client.State(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shim.StatusRunning || !alive(st.Pid) {
		t.Errorf("state %+v, want the container running", st)
	}
	waitFor(t, 5*time.Second, "the log to grow after the caller died", func() bool { return lines() > n+3 })
	if _, err := e.client.Shutdown(ctxT(t, 10*time.Second), true); err != nil {
		t.Fatal(err)
	}
	if !gone(shimPid, 5*time.Second) {
		t.Errorf("shim %d still runs after shutdown", shimPid)
	}
}

// shimChild finds the capsa-shim child of pid.
func shimChild(t *testing.T, pid int) int {
	t.Helper()
	var found int
	waitFor(t, 5*time.Second, "the shim process", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return false
		}
		for _, f := range strings.Fields(string(b)) {
			c, _ := strconv.Atoi(f)
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c)); exe == shimBin {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// syncBuf is a buffer written by attach and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAttachLiveOutput: attach receives output as it is written, on the
// right stream.
func TestAttachLiveOutput(t *testing.T) {
	e := newEnv(t, "sh", "-c", "i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 0.1; done")
	e.start(t, false, false)
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() { done <- e.client.Attach(ctxT(t, 30*time.Second), nil, false, &stdout, &stderr) }()
	waitFor(t, 5*time.Second, "live output on attach", func() bool {
		return strings.Contains(stdout.String(), "tick") && strings.Contains(stderr.String(), "tock")
	})
	if strings.Contains(stdout.String(), "tock") || strings.Contains(stderr.String(), "tick") {
		t.Errorf("streams mixed: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	if err := e.client.Kill(ctxT(t, 5*time.Second), "KILL", false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end when the container did")
	}
}

// TestAttachStdin: with --stdin, attach feeds the container's stdin and
// closes it at the end.
func TestAttachStdin(t *testing.T) {
	e := newEnv(t, "cat")
	e.start(t, false, true)
	var stdout syncBuf
	if err := e.client.Attach(ctxT(t, 10*time.Second), strings.NewReader("hello\nworld\n"), true, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "hello\nworld\n" {
		t.Errorf("cat echoed %q", got)
	}
	st, err := e.client.Wait(ctxT(t, 10*time.Second))
	if err != nil || st.ExitCode != 0 {
		t.Errorf("wait = %+v, %v; want exit 0 once stdin closed", st, err)
	}
}

// TestTerminal: with --tty the container has a pty, and resize changes
// the window size it sees.
func TestTerminal(t *testing.T) {
	e := newEnv(t, "sh", "-c", "stty size; read x; stty size; exit 5")
	e.start(t, true, true)
	ctx := ctxT(t, 20*time.Second)
	if err := e.client.Resize(ctx, 24, 80); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	var out syncBuf
	done := make(chan error, 1)
	go func() { done <- e.client.Attach(ctx, pr, false, &out, &out) }()
	// The first stty may run before the first resize.
	time.Sleep(200 * time.Millisecond)
	if err := e.client.Resize(ctx, 33, 101); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 5 {
		t.Errorf("exit code %d, want 5", st.ExitCode)
	}
	if !strings.Contains(out.String(), "33 101\r\n") {
		t.Errorf("terminal output %q: want the new size 33 101", out.String())
	}
	var logged string
	for _, en := range e.logEntries(t) {
		if en.Stream != "stdout" {
			t.Errorf("terminal entry on stream %q", en.Stream)
		}
		logged += en.Log
	}
	if !strings.Contains(logged, "33 101\r\n") {
		t.Errorf("log %q: want the new size", logged)
	}
	if err := e.client.Resize(ctx, 0, 0); err == nil {
		t.Errorf("resize to 0x0 accepted")
	}
}

// TestLogRotationFollow: a chatty container's log rotates at --log-max-size
// keeping --log-max-file files, and a follower sees every line in order
// across the rotations.
func TestLogRotationFollow(t *testing.T) {
	e := newEnv(t, "sh", "-c", "for i in $(seq 1 400); do echo line $i; [ $((i % 50)) = 0 ] && sleep 0.3; done")
	cfg := e.config(false, false)
	cfg.Log.MaxSize, cfg.Log.MaxFiles = 4096, 3
	ctx := ctxT(t, 30*time.Second)
	followed := make(chan []string, 1)
	go func() {
		var got []string
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_ = logfile.Read(fctx, cfg.Log, true, func(en logfile.Entry) error {
			got = append(got, strings.TrimSpace(en.Log))
			if len(got) == 400 {
				cancel()
			}
			return nil
		})
		followed <- got
	}()
	e.startWith(t, cfg)
	if _, err := e.client.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", ".1", ".2"} {
		fi, err := os.Stat(e.logPath + suffix)
		if err != nil {
			t.Fatalf("rotated file: %v", err)
		}
		if fi.Size() > 4096+200 {
			t.Errorf("%s: %d bytes, want at most max-size plus one entry", fi.Name(), fi.Size())
		}
	}
	if _, err := os.Stat(e.logPath + ".3"); err == nil {
		t.Errorf("a fourth log file exists with max-file 3")
	}
	got := <-followed
	if len(got) != 400 {
		t.Fatalf("followed %d lines, want 400", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i+1); l != want {
			t.Fatalf("followed line %d = %q, want %q", i, l, want)
		}
	}
}

// TestStartFailureLeavesNothing: a container that cannot start makes Launch
// fail with a one-line error naming it, and leaves no shim, socket,
// runtime state or cgroup.
func TestStartFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, "/no/such/binary")
	data, err := json.Marshal(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = shim.Launch(ctxT(t, 20*time.Second), shimBin, e.config(false, false), nil)
	if err == nil {
		t.Fatal("Launch of a container whose binary does not exist succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), `"`+e.id+`"`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line naming container %q", err, e.id)
	}
	waitFor(t, 5*time.Second, "no shim process", func() bool { return len(leftovers()) == 0 })
	if _, err := os.Lstat(filepath.Join(e.stateDir, shim.SocketName)); err == nil {
		t.Errorf("socket left behind")
	}
	if _, err := os.Stat(filepath.Join(e.rtRoot, e.id)); err == nil {
		t.Errorf("runtime state left behind")
	}
	if d := cgroupDirs(e.id); len(d) > 0 {
		t.Errorf("cgroups left behind: %v", d)
	}
	if ents, _ := os.ReadDir(e.stateDir); len(ents) > 0 {
		t.Errorf("state dir keeps %v", ents)
	}
}
