package shim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/shim/jsonwire"
)

// maxExecs bounds the exec records a shim keeps: beyond it, the oldest
// finished ones are dropped.
var maxExecs = 256

// execProc is one process started by an exec request.
type execProc struct {
	id       string
	pid      int
	terminal bool
	master   *os.File   // terminal: the pty master
	outs     []*os.File // the shim's ends of the output: pipes, or master
	ioDone   chan struct{}
	copied   atomic.Int64 // output bytes read so far: the drain's progress

	// stdinMu guards stdin.
	stdinMu sync.Mutex
	stdin   *os.File // no terminal: the write end of the stdin pipe

	// sinkMu guards sink.
	sinkMu sync.Mutex
	sink   *os.File // where the output goes; nil: discarded

	// Shim.execMu guards the fields below.
	pidfd    int // -1 once closed
	stopped  bool
	exitCode int
	exitedAt time.Time
	exited   chan struct{} // closed once stopped is set
}

func (ep *execProc) state() State {
	st := State{ID: ep.id, Pid: ep.pid, Status: StatusRunning}
	if ep.stopped {
		st.Status, st.ExitCode, st.ExitedAt = StatusStopped, ep.exitCode, ep.exitedAt
	}
	return st
}

func (ep *execProc) closeStdin() {
	ep.stdinMu.Lock()
	defer ep.stdinMu.Unlock()
	if ep.stdin != nil {
		ep.stdin.Close()
		ep.stdin = nil
	}
}

// execPrivateName is the name, in the state dir, of the process.json of
// exec n, and of the console socket of the exec being started (short:
// the path must fit in sun_path).
func execProcessName(n uint64) string { return "exec-" + strconv.FormatUint(n, 10) + ".json" }

const execConsoleName = "pty.sock"

// lookupExec returns the exec record id, or an error naming it.
func (s *Shim) lookupExec(op, id string) (*execProc, error) {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	ep := s.execs[id]
	if ep == nil {
		return nil, fmt.Errorf("%s exec %q in container %q: no such exec", op, id, s.cfg.ID)
	}
	return ep, nil
}

// execState is the state of exec id.
func (s *Shim) execState(id string) (State, error) {
	ep, err := s.lookupExec("state of", id)
	if err != nil {
		return State{}, err
	}
	s.execMu.Lock()
	defer s.execMu.Unlock()
	return ep.state(), nil
}

// startExec runs the runtime's exec --detach for req and registers the
// process. Its output is not read yet: the caller starts copyExecOutput
// once the response is sent.
func (s *Shim) startExec(ctx context.Context, req Request) (_ *execProc, retErr error) {
	cid, eid := s.cfg.ID, req.ExecID
	fail := func(format string, a ...any) (*execProc, error) {
		return nil, fmt.Errorf("exec %q in container %q: "+format, append([]any{eid, cid}, a...)...)
	}
	if !validID(eid) {
		return nil, fmt.Errorf("exec in container %q: exec id %q: want letters, digits, _ . + - (at most 128)", cid, eid)
	}
	if s.hasExited() || s.startStatus() != startDone {
		return fail("the container is not running")
	}
	proc, err := execProcessJSON(req)
	if err != nil {
		return fail("%v", err)
	}
	s.execMu.Lock()
	if s.execs[eid] != nil || s.execStarting[eid] {
		s.execMu.Unlock()
		return fail("an exec with this id exists")
	}
	s.execStarting[eid] = true
	s.execN++
	procPath := s.path(execProcessName(s.execN))
	s.execMu.Unlock()
	defer func() {
		s.execMu.Lock()
		delete(s.execStarting, eid)
		s.execMu.Unlock()
	}()
	if err := os.WriteFile(procPath, proc, 0o600); err != nil {
		return fail("%v", err)
	}
	defer os.Remove(procPath)

	ep := &execProc{id: eid, terminal: req.Terminal, pidfd: -1,
		ioDone: make(chan struct{}), exited: make(chan struct{})}
	var stdio [3]*os.File // the process's ends; nil is /dev/null
	defer func() {
		for _, f := range stdio {
			if f != nil {
				f.Close()
			}
		}
		if retErr != nil {
			for _, f := range ep.outs {
				f.Close()
			}
			ep.closeStdin()
		}
	}()
	var console *consoleSocket
	pidPath := procPath + ".pid"
	defer os.Remove(pidPath)
	args := []string{"exec", "--detach", "--pid-file", pidPath, "--process", procPath}
	if req.Terminal {
		// One console socket name: tty execs start one at a time.
		s.consoleMu.Lock()
		defer s.consoleMu.Unlock()
		c, err := listenConsole(s.path(execConsoleName))
		if err != nil {
			return fail("console socket: %v", err)
		}
		defer c.close()
		console = c
		args = append(args, "--console-socket", c.path)
	} else {
		if req.Stdin && !req.Detach {
			r, w, err := os.Pipe()
			if err != nil {
				return fail("%v", err)
			}
			stdio[0], ep.stdin = r, w
		}
		if !req.Detach {
			for i := 1; i <= 2; i++ {
				r, w, err := os.Pipe()
				if err != nil {
					return fail("%v", err)
				}
				stdio[i] = w
				ep.outs = append(ep.outs, r)
			}
		}
	}
	// Register the process before the reaper can collect it.
	register := func() error {
		data, err := os.ReadFile(pidPath)
		if err != nil {
			return fmt.Errorf("exec %q in container %q: read pid file: %w", eid, cid, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			return fmt.Errorf("exec %q in container %q: pid file holds %q", eid, cid, data)
		}
		ep.pid = pid
		if console != nil {
			// Sent before the runtime returned.
			if ep.master = console.receive(); ep.master == nil {
				_ = unix.Kill(pid, unix.SIGKILL)
				return fmt.Errorf("exec %q in container %q: no pty master came on the console socket", eid, cid)
			}
			ep.outs = []*os.File{ep.master}
		}
		// A pidfd: a kill can never reach another process that
		// reused the pid after the reap.
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			unix.CloseOnExec(fd)
			ep.pidfd = fd
		}
		s.addExec(ep)
		return nil
	}
	if err := s.runtimeThen(ctx, stdio, register, append(args, cid)...); err != nil {
		return nil, s.execError(err, eid)
	}
	s.log.Info("exec started", "exec", eid, "pid", ep.pid)
	return ep, nil
}

// execError keeps the runtime's message (the engine reads "not found" and
// "permission denied" in it), and names the exec.
func (s *Shim) execError(err error, eid string) error {
	msg := strings.TrimPrefix(err.Error(), "exec: ")
	msg = strings.TrimPrefix(msg, fmt.Sprintf("exec in container %q: ", s.cfg.ID))
	msg = strings.TrimPrefix(msg, fmt.Sprintf("exec container %q: ", s.cfg.ID))
	return fmt.Errorf("exec %q in container %q: %s", eid, s.cfg.ID, msg)
}

// execProcessJSON is the request's process with terminal and consoleSize
// set from the request's fields.
func execProcessJSON(req Request) ([]byte, error) {
	if len(req.Process) == 0 {
		return nil, errors.New("no process")
	}
	b := append(make([]byte, 0, len(req.Process)+64), '{')
	err := jsonwire.Object(req.Process, func(name string, v []byte) error {
		if name != "terminal" && name != "consoleSize" {
			b = appendString(b, name)
			b = append(b, ':')
			b = append(b, v...)
			b = append(b, ',')
		}
		return nil
	})
	if err != nil {
		return nil, errors.New("process: want a JSON object (a runtime-spec process)")
	}
	b = append(b, `"terminal":`...)
	b = strconv.AppendBool(b, req.Terminal)
	if req.Terminal && req.Rows > 0 && req.Cols > 0 {
		b = append(b, `,"consoleSize":{"height":`...)
		b = strconv.AppendUint(b, uint64(req.Rows), 10)
		b = append(b, `,"width":`...)
		b = strconv.AppendUint(b, uint64(req.Cols), 10)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// addExec records ep, dropping the oldest finished records beyond
// maxExecs.
func (s *Shim) addExec(ep *execProc) {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	s.execs[ep.id] = ep
	s.execPids[ep.pid] = ep
	s.execOrder = append(s.execOrder, ep)
	if len(s.execs) <= maxExecs {
		return
	}
	kept := s.execOrder[:0]
	for _, e := range s.execOrder {
		if len(s.execs) > maxExecs && e.stopped {
			delete(s.execs, e.id)
			continue
		}
		kept = append(kept, e)
	}
	clear(s.execOrder[len(kept):])
	s.execOrder = kept
}

// killExec signals the exec's process through its pidfd (or its pid,
// while it is not reaped: the reaper takes execMu to reap it).
func (s *Shim) killExec(ep *execProc, sig unix.Signal) error {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	if ep.stopped {
		return errors.New("not running")
	}
	if ep.pidfd >= 0 {
		return unix.PidfdSendSignal(ep.pidfd, sig, nil, 0)
	}
	if _, running := s.execPids[ep.pid]; !running {
		return errors.New("not running")
	}
	return unix.Kill(ep.pid, sig)
}

// copyExecOutput copies the exec's output to sink (nil: discarded) until
// it ends: frames, or the raw bytes of a terminal.
func (s *Shim) copyExecOutput(ep *execProc, sink *os.File) {
	ep.sinkMu.Lock()
	ep.sink = sink
	ep.sinkMu.Unlock()
	var wg sync.WaitGroup
	for i, f := range ep.outs {
		stream := StreamStdout
		if i == 1 {
			stream = StreamStderr
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			// Room for a frame's header before the bytes read.
			buf := make([]byte, 8+32*1024)
			for {
				n, err := f.Read(buf[8:])
				if n > 0 {
					ep.copied.Add(int64(n))
					ep.write(stream, buf[:8+n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(ep.ioDone)
	}()
}

// write sends buf[8:] to the sink, in one write: a frame whose header
// goes in buf[:8], or the raw bytes of a terminal. A sink that fails is
// dropped (the output is then discarded: the process must not block on a
// client that left).
func (ep *execProc) write(stream byte, buf []byte) {
	ep.sinkMu.Lock()
	defer ep.sinkMu.Unlock()
	if ep.sink == nil {
		return
	}
	var err error
	if ep.terminal {
		_, err = ep.sink.Write(buf[8:])
	} else {
		hdr := frameHeader(stream, len(buf)-8)
		copy(buf, hdr[:])
		_, err = ep.sink.Write(buf)
	}
	if err != nil {
		ep.sink.Close()
		ep.sink = nil
	}
}

// endStream closes the exec's stream, if it still has one.
func (ep *execProc) endStream() {
	ep.sinkMu.Lock()
	defer ep.sinkMu.Unlock()
	if ep.sink != nil {
		ep.sink.Close()
		ep.sink = nil
	}
}

// serveExec answers an exec request on conn and, unless detached, turns
// conn into the exec's stream until the process has exited and its output
// ended.
func (s *Shim) serveExec(ctx context.Context, conn *os.File, br *bufio.Reader, req Request) {
	ep, err := s.startExec(ctx, req)
	if err != nil {
		_ = reply(conn, Response{Error: err.Error()})
		conn.Close()
		return
	}
	if req.Detach {
		_ = reply(conn, Response{OK: true, Pid: ep.pid})
		conn.Close()
		s.copyExecOutput(ep, nil)
		return
	}
	if err := reply(conn, Response{OK: true, Pid: ep.pid}); err != nil {
		conn.Close()
		s.copyExecOutput(ep, nil)
		ep.closeStdin()
		return
	}
	s.copyExecOutput(ep, conn)
	if req.Stdin {
		go func() {
			if ep.terminal {
				_, _ = io.Copy(ep.master, br)
				return
			}
			ep.stdinMu.Lock()
			w := ep.stdin
			ep.stdinMu.Unlock()
			if w != nil {
				_, _ = io.Copy(w, br)
			}
			// The client's half-close (or its end) closes stdin.
			ep.closeStdin()
		}()
	}
	select {
	case <-ep.exited:
	case <-s.done:
	}
	ep.endStream()
	conn.Close()
}

// finishExec records the end of an exec's process once its output has
// ended, or has stopped moving for ExitDrain: a process it left behind in
// the container can hold the output open forever.
func (s *Shim) finishExec(ep *execProc, ws unix.WaitStatus, at time.Time) {
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	s.drain(ep.ioDone, &ep.copied)
	select {
	case <-ep.ioDone:
	default:
		s.log.Warn("exec output still open after its process exited; recording the exit anyway", "exec", ep.id)
		for _, f := range ep.outs {
			f.Close()
		}
	}
	ep.closeStdin()
	s.execMu.Lock()
	ep.stopped, ep.exitCode, ep.exitedAt = true, code, at.UTC()
	if ep.pidfd >= 0 {
		unix.Close(ep.pidfd)
		ep.pidfd = -1
	}
	s.execMu.Unlock()
	close(ep.exited)
	s.log.Info("exec exited", "exec", ep.id, "exit_code", code)
}

// drain waits for done while the output moves: it gives up once copied
// has not grown for ExitDrain, or after 15 times ExitDrain in all (a
// process that never stops writing).
func (s *Shim) drain(done <-chan struct{}, copied *atomic.Int64) {
	t := time.NewTicker(ExitDrain)
	defer t.Stop()
	last := copied.Load()
	for i := 0; i < 15; i++ {
		select {
		case <-done:
			return
		case <-s.done:
			return
		case <-t.C:
		}
		n := copied.Load()
		if n == last {
			return
		}
		last = n
	}
}

// parseSignal reads a signal name (TERM, SIGTERM) or number.
func parseSignal(sig string) (unix.Signal, error) {
	if n, err := strconv.Atoi(sig); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", sig)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(sig)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("invalid signal %q", sig)
}
