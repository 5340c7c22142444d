package shim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/capsa-dev/capsa/internal/shim/jsonwire"
)

// runtime runs one runtime command with stdio on /dev/null.
func (s *Shim) runtime(ctx context.Context, args ...string) error {
	return s.runtimeIO(ctx, [3]*os.File{}, args...)
}

// runtimeIO runs one runtime command with the given stdio (nil: /dev/null).
// The runtime logs in JSON to <state-dir>/runtime.log; a failure's message
// is the last error it logged there. Not stderr: a container created with
// pipes keeps the runtime's stderr, and a pipe read to its end would wait
// for the container.
func (s *Shim) runtimeIO(ctx context.Context, stdio [3]*os.File, args ...string) error {
	return s.runtimeThen(ctx, stdio, nil, args...)
}

// runtimeThen is runtimeIO that, if the command succeeds, calls then
// before the reaper may collect orphans again (runMu held): then can find
// and claim a process the command left behind (exec --detach) before the
// reaper's wait4(-1) could take its exit status.
func (s *Shim) runtimeThen(ctx context.Context, stdio [3]*os.File, then func() error, args ...string) error {
	logPath := s.path(runtimeLog)
	var off int64
	if st, err := os.Stat(logPath); err == nil {
		off = st.Size()
	}
	full := append([]string{"--root", s.cfg.RuntimeRoot, "--log", logPath, "--log-format", "json"}, args...)
	cmd := exec.CommandContext(ctx, s.cfg.Runtime, full...)
	if stdio[0] != nil {
		cmd.Stdin = stdio[0]
	}
	if stdio[1] != nil {
		cmd.Stdout = stdio[1]
	}
	if stdio[2] != nil {
		cmd.Stderr = stdio[2]
	}
	s.runMu.Lock()
	err := cmd.Run()
	var thenErr error
	if err == nil && then != nil {
		thenErr = then()
	}
	s.runMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if err == nil {
		return thenErr
	}
	msg := lastError(logPath, off)
	if strings.Contains(msg, strconv.Quote(s.cfg.ID)) {
		// The runtime named the container already.
		return fmt.Errorf("%s: %s", args[0], msg)
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s container %q: %s", args[0], s.cfg.ID, msg)
}

// lastError is the message of the last error-level record in the runtime's
// JSON log after offset off.
func lastError(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	var msg string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var level, m string
		err := jsonwire.Object(sc.Bytes(), func(name string, v []byte) error {
			switch name {
			case "level":
				level, _ = jsonwire.String(v)
			case "msg":
				m, _ = jsonwire.String(v)
			}
			return nil
		})
		if err == nil && level == "error" && m != "" {
			msg = m
		}
	}
	return msg
}
