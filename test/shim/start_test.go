package shim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// TestWaitStartAttachFirst: with --wait-start the shim answers once the
// container is created; a client that attaches before the start receives
// the output from its first byte, on the right streams; a second start is
// refused.
func TestWaitStartAttachFirst(t *testing.T) {
	e := newEnv(t, "sh", "-c", "echo first; echo err1 >&2; echo second; exit 4")
	cfg := e.config(false, false)
	cfg.WaitStart = true
	e.startWith(t, cfg)
	ctx := ctxT(t, 20*time.Second)

	st, err := e.client.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shim.StatusCreated || !alive(st.Pid) {
		t.Fatalf("state before start = %+v, want created with a live init", st)
	}
	// The init waits: nothing is logged before the start.
	time.Sleep(100 * time.Millisecond)
	if b := readFile(e.logPath); b != "" {
		t.Errorf("log before start: %q", b)
	}

	conn, err := e.client.AttachConn(ctx, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stdout, stderr syncBuf
	demuxed := make(chan error, 1)
	go func() { demuxed <- shim.Demux(conn, &stdout, &stderr) }()

	st, err = e.client.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid == 0 || st.Status == shim.StatusCreated {
		t.Errorf("start answered %+v: want the started container's state", st)
	}
	select {
	case err := <-demuxed:
		if err != nil {
			t.Fatalf("attach stream: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the attach stream did not end with the container")
	}
	if got := stdout.String(); got != "first\nsecond\n" {
		t.Errorf("attached stdout %q, want %q", got, "first\nsecond\n")
	}
	if got := stderr.String(); got != "err1\n" {
		t.Errorf("attached stderr %q, want %q", got, "err1\n")
	}
	st, err = e.client.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shim.StatusStopped || st.ExitCode != 4 {
		t.Errorf("wait = %+v, want stopped with 4", st)
	}
	if _, err := e.client.Start(ctx); err == nil || !strings.Contains(err.Error(), e.id) {
		t.Errorf("second start: %v, want an error naming %q", err, e.id)
	}
	// Lines of different streams may land in either order.
	var logged []string
	for _, en := range e.logEntries(t) {
		if en.Stream == "stdout" {
			logged = append(logged, en.Log)
		}
	}
	if strings.Join(logged, "") != "first\nsecond\n" {
		t.Errorf("logged stdout %q, want first, second", logged)
	}
}

// TestWaitStartFailure: a start that fails (the init was killed while the
// container waited) is an error naming the container; the shim records the
// exit, deletes the container and shuts down cleanly.
func TestWaitStartFailure(t *testing.T) {
	e := newEnv(t, "echo", "never")
	cfg := e.config(false, false)
	cfg.WaitStart = true
	e.startWith(t, cfg)
	ctx := ctxT(t, 20*time.Second)
	if err := e.client.Kill(ctx, "KILL", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Start(ctx); err == nil || !strings.Contains(err.Error(), e.id) {
		t.Fatalf("start of a killed container: %v, want an error naming %q", err, e.id)
	}
	st, err := e.client.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 {
		t.Errorf("wait = %+v, want exit code 137", st)
	}
	if ex, err := shim.ReadExit(e.stateDir); err != nil || ex.ExitCode != 137 {
		t.Errorf("exit.json = %+v, %v; want code 137", ex, err)
	}
	if _, err := e.client.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !gone(e.shimPid, 5*time.Second) {
		t.Errorf("shim %d still runs after shutdown", e.shimPid)
	}
	if d := cgroupDirs(e.id); len(d) > 0 {
		t.Errorf("cgroups left behind: %v", d)
	}
	if b := readFile(e.logPath); strings.Contains(b, "never") {
		t.Errorf("a container whose start failed logged %q", b)
	}
}
