package cli_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyOutput collects what a pty's master reads.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *ptyOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *ptyOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal; got %q", s, p.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startPty(t *testing.T, args ...string) (*exec.Cmd, *os.File, *ptyOutput) {
	t.Helper()
	cmd := exec.Command(capsaBin, append([]string{"-H", host}, args...)...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ptmx.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	out := &ptyOutput{}
	go func() { _, _ = io.Copy(out, ptmx) }()
	return cmd, ptmx, out
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatal("capsa did not exit")
		return -1
	}
}

func TestRunInteractiveTTY(t *testing.T) {
	ensureImage(t)
	n := name(t, "tty")
	cmd, ptmx, out := startPty(t, "run", "-it", "--name", n, "-l", testLabel, testImage, "sh")
	// The shell sees a terminal of the size capsa's terminal has.
	if _, err := ptmx.WriteString("echo size=$(stty size 2>/dev/null || echo none) sum=$((40+2)); [ -t 0 ] && echo tty-yes\n"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "sum=42")
	out.waitFor(t, "tty-yes")
	if _, err := ptmx.WriteString("exit 5\n"); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd); code != 5 {
		t.Errorf("exit %d, want 5; terminal: %q", code, out.String())
	}
}

func TestRunDetachKeys(t *testing.T) {
	ensureImage(t)
	n := name(t, "detach")
	cmd, ptmx, out := startPty(t, "run", "-it", "--name", n, "-l", testLabel, testImage, "sh")
	if _, err := ptmx.WriteString("echo ready-$((1+1))\n"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "ready-2")
	if _, err := ptmx.Write([]byte{16, 17}); err != nil { // ctrl-p ctrl-q
		t.Fatal(err)
	}
	if code := exitCode(t, cmd); code != 0 {
		t.Errorf("detach: exit %d, want 0", code)
	}
	if got := capsa(t, "inspect", "-f", "{{.State.Running}}", n); got != "true\n" {
		t.Errorf("after detach the container is not running: %q", got)
	}
}
