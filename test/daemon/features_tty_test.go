package daemon_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// ptyOutput collects what a pty's master gives.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *ptyOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestFeatureTTY: run -it under a terminal gives an interactive shell: its
// prompt, a command's output, and the shell's exit code back to the CLI.
func TestFeatureTTY(t *testing.T) {
	d := daemontest.Start(t)
	d.ImportBusybox()

	cmd := exec.Command(filepath.Join(d.Bin, "capsa"), "-H", d.Host, "run", "-it", "--rm", "-e", "PS1=capsa-prompt# ", "busybox", "sh")
	cmd.Env = append(os.Environ(), "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out ptyOutput
	go func() { _, _ = out.ReadFrom(ptmx) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	waitFor(t, 10*time.Second, "shell prompt", func() (bool, string) {
		s := out.String()
		return strings.Contains(s, "capsa-prompt# "), s
	})
	if _, err := ptmx.Write([]byte("echo out-$((6*7)); stty size; tty\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "command output", func() (bool, string) {
		s := out.String()
		return strings.Contains(s, "out-42") && strings.Contains(s, "/dev/pts/0"), s
	})
	if s := out.String(); !strings.Contains(s, "40 100") {
		t.Errorf("stty size inside the container does not show the terminal's 40x100: %q", s)
	}
	if _, err := ptmx.Write([]byte("exit 5\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 5 {
			t.Errorf("run -it ended with %v, want exit status 5; output %q", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("run -it did not end after exit 5; output %q", out.String())
	}
}

func (o *ptyOutput) ReadFrom(f *os.File) (int64, error) {
	var n int64
	b := make([]byte, 4096)
	for {
		m, err := f.Read(b)
		if m > 0 {
			_, _ = o.Write(b[:m])
			n += int64(m)
		}
		if err != nil {
			return n, err
		}
	}
}
