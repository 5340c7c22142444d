package shim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/shim"
)

// running starts a container that runs until it is killed.
func running(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, "sleep", "1000")
	e.start(t, false, false)
	return e
}

// proc is the container's process with other args, for an exec.
func (e *env) proc(args ...string) *specs.Process {
	p := *e.spec.Process
	p.Args = args
	return &p
}

// readAll reads a stream to its end, failing the test after 15 s.
func readAll(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read exec stream: %v (got %q)", err, b)
	}
	return b
}

// TestExecOutputAndExitCode: an exec's stdout and stderr come back on
// their streams; its exit code is recorded and waited for.
func TestExecOutputAndExitCode(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	pid, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "e1", Process: e.proc("sh", "-c", "echo hello; echo oops >&2; echo bye")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if pid <= 0 {
		t.Errorf("exec pid %d", pid)
	}
	var stdout, stderr bytes.Buffer
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if err := shim.Demux(conn, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "hello\nbye\n" || stderr.String() != "oops\n" {
		t.Errorf("exec output: stdout %q, stderr %q; want hello bye, oops", stdout.String(), stderr.String())
	}
	// The stream ends once the exit is recorded.
	st, err := e.client.ExecState(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "e1" || st.Pid != pid || st.Status != shim.StatusStopped || st.ExitCode != 0 || st.ExitedAt.IsZero() {
		t.Errorf("exec state %+v, want e1 stopped with 0", st)
	}

	_, conn3, err := e.client.Exec(ctx, shim.ExecRequest{ID: "e3", Process: e.proc("sh", "-c", "exit 3")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	st, err = e.client.WaitExec(ctx, "e3")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shim.StatusStopped || st.ExitCode != 3 {
		t.Errorf("wait exec = %+v, want stopped with 3", st)
	}
	if b := readAll(t, conn3); len(b) != 0 {
		t.Errorf("exit 3 printed %q", b)
	}
	// The container runs on; the exec's files are gone.
	if cst, err := e.client.State(ctx); err != nil || cst.Status != shim.StatusRunning {
		t.Errorf("container state %+v, %v; want running", cst, err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.stateDir, "exec-*")); len(m) > 0 {
		t.Errorf("exec files left in the state dir: %v", m)
	}
}

// TestExecStdin: bytes sent on the stream reach the exec's stdin, and
// the client's half-close closes it.
func TestExecStdin(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	_, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "cat", Process: e.proc("cat"), Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping\npong\n")); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if err := shim.Demux(conn, &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "ping\npong\n" {
		t.Errorf("cat echoed %q", stdout.String())
	}
	st, err := e.client.WaitExec(ctx, "cat")
	if err != nil || st.ExitCode != 0 {
		t.Errorf("wait exec = %+v, %v; want exit 0 once stdin closed", st, err)
	}
}

// TestExecTerminal: a terminal exec starts at the size asked for, a resize
// changes what stty sees, and its output comes raw.
func TestExecTerminal(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	_, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "tty", Process: e.proc("sh", "-c", "stty size; read x; stty size; exit 6"),
		Terminal: true, Rows: 24, Cols: 80, Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&out, conn)
		done <- err
	}()
	waitFor(t, 10*time.Second, "the first stty size", func() bool { return strings.Contains(out.String(), "24 80\r\n") })
	if err := e.client.ResizeExec(ctx, "tty", 33, 101); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the terminal stream did not end")
	}
	if !strings.Contains(out.String(), "33 101\r\n") {
		t.Errorf("terminal output %q: want the new size 33 101", out.String())
	}
	if out.String()[0] == 1 {
		t.Errorf("terminal output %q is framed, want raw", out.String())
	}
	st, err := e.client.ExecState(ctx, "tty")
	if err != nil || st.ExitCode != 6 {
		t.Errorf("exec state %+v, %v; want exit 6", st, err)
	}
	if err := e.client.ResizeExec(ctx, "nope", 10, 10); err == nil {
		t.Errorf("resize of an unknown exec succeeded")
	}
	// The container has no terminal.
	if err := e.client.Resize(ctx, 10, 10); err == nil {
		t.Errorf("resize of the container without a terminal succeeded")
	}
}

// TestExecKill: kill with an exec id signals that process only.
func TestExecKill(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	pid, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "sleeper", Process: e.proc("sleep", "100"), Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	if conn != nil {
		t.Errorf("a detached exec returned a stream")
	}
	if !alive(pid) {
		t.Fatalf("exec pid %d does not run", pid)
	}
	if st, err := e.client.ExecState(ctx, "sleeper"); err != nil || st.Status != shim.StatusRunning {
		t.Errorf("exec state %+v, %v; want running", st, err)
	}
	if err := e.client.KillExec(ctx, "sleeper", "KILL"); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.WaitExec(ctx, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 {
		t.Errorf("killed exec: exit code %d, want 137", st.ExitCode)
	}
	if alive(pid) {
		t.Errorf("exec pid %d still runs", pid)
	}
	if err := e.client.KillExec(ctx, "sleeper", "KILL"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of an exited exec: %v, want not running", err)
	}
	if err := e.client.KillExec(ctx, "nope", "TERM"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("kill of an unknown exec: %v, want an error naming it", err)
	}
	if _, err := e.client.ExecState(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("state of an unknown exec: %v, want an error naming it", err)
	}
	if cst, err := e.client.State(ctx); err != nil || cst.Status != shim.StatusRunning {
		t.Errorf("container state %+v, %v; want running", cst, err)
	}
}

// TestExecOutlivesClient: an exec whose client leaves runs to its end
// (its output discarded, never blocking it), and a new client reads its
// state.
func TestExecOutlivesClient(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	// More output than a pipe holds, once the client has gone.
	_, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "long", Process: e.proc("sh", "-c", "sleep 0.3; seq 1 50000; exit 7")})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	c2 := shim.NewClient(filepath.Join(e.stateDir, shim.SocketName))
	waitFor(t, 10*time.Second, "the exec to end", func() bool {
		st, err := c2.ExecState(ctx, "long")
		return err == nil && st.Status == shim.StatusStopped
	})
	st, err := c2.ExecState(ctx, "long")
	if err != nil || st.ExitCode != 7 {
		t.Errorf("exec state from a new client %+v, %v; want exit 7", st, err)
	}
}

// TestExecErrors: a missing executable is an error with the runtime's
// message; ids are validated and unique; a stopped container takes none.
func TestExecErrors(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	_, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "nf", Process: e.proc("/no/such/binary")})
	if err == nil {
		t.Fatal("exec of a missing binary succeeded")
	}
	t.Logf("missing binary: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "no such file") && !strings.Contains(msg, "not found") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line saying the binary was not found", msg)
	}
	if _, err := e.client.ExecState(ctx, "nf"); err == nil {
		t.Errorf("a failed exec left a record")
	}
	if _, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "../x", Process: e.proc("true")}); err == nil || !strings.Contains(err.Error(), "exec id") {
		t.Errorf("exec id ../x: %v, want refused", err)
	}
	if _, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "dup", Process: e.proc("true"), Detach: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "dup", Process: e.proc("true"), Detach: true}); err == nil {
		t.Errorf("a second exec with id dup succeeded")
	}
	if err := e.client.Kill(ctx, "KILL", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "late", Process: e.proc("true")}); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec in a stopped container: %v, want not running", err)
	}
}

// TestExecStopsWithContainer: execs still running when the container's
// init dies end, as stopped, and their streams end.
func TestExecStopsWithContainer(t *testing.T) {
	e := running(t)
	ctx := ctxT(t, 20*time.Second)
	p1, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: "bg", Process: e.proc("sleep", "100"), Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	p2, conn, err := e.client.Exec(ctx, shim.ExecRequest{ID: "fg", Process: e.proc("sh", "-c", "echo up; sleep 100")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := e.client.Kill(ctx, "KILL", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, conn); !bytes.Contains(b, []byte("up\n")) {
		t.Errorf("stream %q, want up", b)
	}
	for _, id := range []string{"bg", "fg"} {
		st, err := e.client.WaitExec(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != shim.StatusStopped || st.ExitCode != 137 {
			t.Errorf("exec %s: %+v, want stopped with 137", id, st)
		}
	}
	for _, p := range []int{p1, p2} {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			t.Errorf("exec pid %d is still there", p)
		}
	}
}

// TestExecMany: more execs than the shim keeps records of; the oldest
// finished ones go, the latest stay.
func TestExecMany(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := running(t)
	ctx := ctxT(t, 120*time.Second)
	const n = 270
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("x%d", i)
		if _, _, err := e.client.Exec(ctx, shim.ExecRequest{ID: id, Process: e.proc("true"), Detach: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.WaitExec(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.ExecState(ctx, "x0"); err == nil {
		t.Errorf("the oldest record is still kept")
	}
	if _, err := e.client.ExecState(context.Background(), fmt.Sprintf("x%d", n-1)); err != nil {
		t.Errorf("the latest record: %v", err)
	}
}
