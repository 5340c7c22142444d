package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/cleanup"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// ExitDrain bounds how long the shim waits, after the init exits, for the
// container's output to end before it records the exit: a process that
// escaped the container's PID namespace can hold the pipes open forever.
var ExitDrain = 2 * time.Second

// Ready is the line Run prints once the container runs.
type Ready struct {
	Pid    int    `json:"pid,omitempty"`
	Socket string `json:"socket,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Shim is one running shim; see Run.
type Shim struct {
	cfg Config
	log *slog.Logger

	// runMu is held while a runtime command runs: the orphan reaper's
	// wait4(-1) must not steal the command's exit status from os/exec.
	runMu sync.Mutex

	pid    int // the container's init; set before anything reads it
	master *os.File
	logw   *logfile.Writer
	out    *broadcaster
	ioDone chan struct{} // closed when every output stream has ended
	kick   chan struct{} // a reaper pass is wanted
	ln     *listener

	// stdinMu guards stdin.
	stdinMu sync.Mutex
	stdin   *os.File // the write end of the container's stdin pipe

	// initReaped is set, by the reaper goroutine only, once the init is
	// collected: its pid is not waited for again, as it may be reused.
	initReaped bool

	// mu guards exit.
	mu     sync.Mutex
	exit   *Exit
	exited chan struct{} // closed once exit is set and recorded

	// execMu guards the exec records: execs, execStarting, execN,
	// execPids, execOrder, and the fields of execProc that say so. The
	// reaper holds it while it reaps, so that a kill by pid never meets
	// a reused pid.
	execMu       sync.Mutex
	execs        map[string]*execProc // by exec id
	execStarting map[string]bool      // exec ids being started
	execN        uint64               // execs started, for file names
	execPids     map[int]*execProc    // running and not yet reaped, by pid
	execOrder    []*execProc          // oldest first
	// consoleMu is held while a terminal exec starts: they share one
	// console socket path.
	consoleMu sync.Mutex

	// startMu guards startState, and is held across the start request.
	startMu    sync.Mutex
	startState int

	// shutMu serializes shutdowns; shutDone: one has completed.
	shutMu   sync.Mutex
	shutDone bool

	stopOnce sync.Once
	done     chan struct{} // closed by shutdown
}

// startState values.
const (
	startDone   = iota // started (or being started)
	startNone          // created, waiting for a start request
	startFailed        // the start request failed; the container is deleted
)

// Run makes this process the shim of cfg's container: it daemonizes,
// creates and starts the container, prints a Ready line to ready, and
// serves on <state-dir>/shim.sock until a shutdown request is done. It takes
// over process-wide state (session, subreaper, cwd, signals, fds 0-2) and is
// meant to be called once, from main.
func Run(ctx context.Context, cfg Config, ready io.Writer) (retErr error) {
	defer func() {
		if retErr != nil {
			writeReady(ready, Ready{Error: retErr.Error()})
		}
	}()
	if err := cfg.validate(); err != nil {
		return err
	}
	s := newShim(cfg)
	if err := daemonize(); err != nil {
		return fmt.Errorf("shim for container %q: %w", cfg.ID, err)
	}
	// Before create: the init's SIGCHLD must not be lost.
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)

	cu := cleanup.Make()
	defer cu.Clean()
	if err := s.listen(); err != nil {
		return err
	}
	cu.Add(func() { s.ln.Close(); s.removeFiles() })
	if cfg.Log.Path != "" {
		w, err := logfile.Open(cfg.Log)
		if err != nil {
			return fmt.Errorf("shim for container %q: %w", cfg.ID, err)
		}
		s.logw = w
		cu.Add(func() { w.Close() })
	}
	outs, err := s.create(ctx)
	if err != nil {
		return err
	}
	cu.Add(func() {
		for _, f := range outs {
			f.Close()
		}
		s.closeStdin()
		// Nothing may be left of a container whose shim failed.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.runtime(dctx, "delete", "--force", cfg.ID)
		s.removeFiles()
	})
	if cfg.WaitStart {
		s.startState = startNone
	} else if err := s.runtime(ctx, "start", cfg.ID); err != nil {
		return err
	}
	go s.reaper(sigchld)
	// With --wait-start the output is read from now on: a client that
	// attaches before the start sees it from its first byte.
	s.copyOutput(outs)
	cu.Release()

	if cfg.WaitStart {
		s.log.Info("container created", "pid", s.pid)
	} else {
		s.log.Info("container started", "pid", s.pid)
	}
	writeReady(ready, Ready{Pid: s.pid, Socket: s.path(SocketName)})
	if err := detachStdio(); err != nil {
		s.log.Warn("detach stdio", "err", err)
	}
	trimMemory()
	s.serve()
	return nil
}

func newShim(cfg Config) *Shim {
	s := &Shim{
		cfg: cfg, log: cfg.Logger, out: newBroadcaster(),
		ioDone: make(chan struct{}), kick: make(chan struct{}, 1),
		exited: make(chan struct{}), done: make(chan struct{}),
		execs: make(map[string]*execProc), execStarting: make(map[string]bool),
		execPids: make(map[int]*execProc),
	}
	if s.log == nil {
		s.log = discardLogger()
	}
	s.log = s.log.With("container", cfg.ID)
	return s
}

func writeReady(w io.Writer, r Ready) {
	_, _ = w.Write(appendReady(nil, r))
}

func (s *Shim) path(name string) string { return filepath.Join(s.cfg.StateDir, name) }

// daemonize: a session of its own (no terminal signals from the caller's),
// a child subreaper (the container's init comes back to it), cwd "/" (no
// directory kept busy). Signals that would stop a daemon are caught, not
// ignored: an ignored disposition would be inherited by the runtime and
// the container's processes across exec.
func daemonize() error {
	if pgid, _ := unix.Getsid(0); pgid != unix.Getpid() {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGPIPE, unix.SIGHUP, unix.SIGINT, unix.SIGTERM)
	go func() {
		for range sigs {
			// A shim stops through shutdown; SIGPIPE only means a
			// client went away (the write returns EPIPE).
		}
	}()
	return nil
}

// detachStdio points fds 0 and 1 at /dev/null, and 2 as well unless it is
// a regular file: a pipe the caller holds would make the shim's writes fail
// (or block) once the caller is gone.
func detachStdio() error {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(null)
	fds := []int{0, 1}
	var st unix.Stat_t
	if err := unix.Fstat(2, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		fds = append(fds, 2)
	}
	for _, fd := range fds {
		if err := unix.Dup3(null, fd, 0); err != nil {
			return err
		}
	}
	return nil
}

// listen makes the state dir and the socket: 0700 and 0600, never abstract.
func (s *Shim) listen() error {
	id := s.cfg.ID
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("shim for container %q: state dir: %w", id, err)
	}
	if err := os.Chmod(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("shim for container %q: state dir: %w", id, err)
	}
	sock := s.path(SocketName)
	if serving(sock) {
		return fmt.Errorf("shim for container %q: a shim already serves %s", id, sock)
	}
	// A stale socket, and the outcome of an earlier run, must go.
	for _, n := range []string{SocketName, ExitName, consoleName, pidName, runtimeLog} {
		if err := os.Remove(s.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("shim for container %q: %w", id, err)
		}
	}
	ln, err := listenUnix(sock)
	if err != nil {
		return fmt.Errorf("shim for container %q: %w", id, err)
	}
	s.ln = ln
	return nil
}

// create runs the runtime's create with the container's stdio, and returns
// the shim's ends of the output: the stdout and stderr pipes, or the pty
// master.
func (s *Shim) create(ctx context.Context) (outs []*os.File, retErr error) {
	id := s.cfg.ID
	cu := cleanup.Make()
	defer cu.Clean()
	args := []string{"create", "--bundle", s.cfg.Bundle, "--pid-file", s.path(pidName)}
	var stdio [3]*os.File // the container's ends; nil is /dev/null
	var console *consoleSocket
	if s.cfg.Terminal {
		c, err := listenConsole(s.path(consoleName))
		if err != nil {
			return nil, fmt.Errorf("create container %q: console socket: %w", id, err)
		}
		console = c
		defer c.close()
		args = append(args, "--console-socket", c.path)
	} else {
		if s.cfg.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			stdio[0], s.stdin = r, w
			cu.Add(func() { r.Close() })
			cu.Add(s.closeStdin)
		}
		for i := 1; i <= 2; i++ {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			stdio[i] = w
			outs = append(outs, r)
			cu.Add(func() { r.Close(); w.Close() })
		}
	}
	args = append(args, id)
	runErr := s.runtimeIO(ctx, stdio, args...)
	// The container holds its own copies now.
	for _, f := range stdio {
		if f != nil {
			f.Close()
		}
	}
	if runErr != nil {
		return nil, runErr
	}
	cu.Add(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.runtime(dctx, "delete", "--force", id)
	})
	if console != nil {
		m := console.receive()
		if m == nil {
			return nil, fmt.Errorf("create container %q: no pty master came on the console socket", id)
		}
		s.master = m
		outs = append(outs, m)
	}
	data, err := os.ReadFile(s.path(pidName))
	if err != nil {
		return nil, fmt.Errorf("create container %q: read pid file: %w", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("create container %q: pid file holds %q", id, data)
	}
	s.pid = pid
	cu.Release()
	return outs, nil
}

// consoleSocket is a socket a runtime sends a pty master to.
type consoleSocket struct {
	path   string
	ln     *listener
	master chan *os.File
}

// listenConsole listens on path and accepts the master in the background.
func listenConsole(path string) (*consoleSocket, error) {
	ln, err := listenUnix(path)
	if err != nil {
		return nil, err
	}
	c := &consoleSocket{path: path, ln: ln, master: make(chan *os.File, 1)}
	go func() { c.master <- recvMaster(ln) }()
	return c, nil
}

// receive returns the master, nil if none came within 5 seconds. Called
// once the runtime has returned: the master, if any, was sent by then.
func (c *consoleSocket) receive() *os.File {
	select {
	case m := <-c.master:
		return m
	case <-time.After(5 * time.Second):
		return nil
	}
}

// close stops listening (which ends the accept) and removes the socket.
func (c *consoleSocket) close() {
	c.ln.Close()
	os.Remove(c.path)
}

// recvMaster accepts one connection on the console socket and returns the
// fd it carries (SCM_RIGHTS), non-blocking, or nil.
func recvMaster(ln *listener) *os.File {
	conn, err := ln.accept()
	if err != nil {
		return nil
	}
	defer conn.Close()
	fd, err := recvFD(conn)
	if err != nil {
		return nil
	}
	// Non-blocking: the poller then serves it, and Close wakes a read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), "pty-master")
}

func (s *Shim) closeStdin() {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
}

// stdinWriter is where attach writes the client's bytes, or nil.
func (s *Shim) stdinWriter() io.Writer {
	if s.master != nil {
		return s.master
	}
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin == nil {
		return nil
	}
	return s.stdin
}

// copyOutput copies each output to the log and to attached clients until it
// ends; ioDone closes when all have.
func (s *Shim) copyOutput(outs []*os.File) {
	var wg sync.WaitGroup
	for i, f := range outs {
		stream, name := StreamStdout, "stdout"
		if i == 1 {
			stream, name = StreamStderr, "stderr"
		}
		var sw *logfile.StreamWriter
		if s.logw != nil {
			sw = s.logw.Stream(name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					if sw != nil {
						if _, werr := sw.Write(buf[:n]); werr != nil {
							s.log.Error("write log", "err", werr)
						}
					}
					s.out.send(stream, buf[:n])
				}
				if err != nil {
					// A pty master reads EIO once no slave is open.
					if !errors.Is(err, io.EOF) && !errors.Is(err, unix.EIO) && !errors.Is(err, os.ErrClosed) {
						s.log.Warn("read container output", "stream", name, "err", err)
					}
					break
				}
			}
			if sw != nil {
				if err := sw.Flush(); err != nil {
					s.log.Error("write log", "err", err)
				}
			}
			if f != s.master {
				f.Close()
			}
		}()
	}
	go func() {
		wg.Wait()
		s.out.close()
		close(s.ioDone)
	}()
}

// reaper collects the init, and orphans, on SIGCHLD and after each runtime
// command.
func (s *Shim) reaper(sigchld chan os.Signal) {
	defer signal.Stop(sigchld)
	for {
		s.reap()
		select {
		case <-sigchld:
		case <-s.kick:
		case <-s.done:
			return
		}
	}
}

func (s *Shim) reap() {
	var ws unix.WaitStatus
	// The init and the exec processes are never os/exec children: wait
	// for them by pid at any time.
	if !s.initReaped {
		if p, _ := unix.Wait4(s.pid, &ws, unix.WNOHANG, nil); p == s.pid {
			s.initReaped = true
			go s.finishExit(ws, time.Now())
		}
	}
	s.execMu.Lock()
	for pid, ep := range s.execPids {
		if p, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); p == pid {
			delete(s.execPids, pid)
			go s.finishExec(ep, ws, time.Now())
		}
	}
	s.execMu.Unlock()
	if !s.runMu.TryLock() {
		return // the runtime command's end kicks another pass
	}
	defer s.runMu.Unlock()
	for s.reapAny() {
	}
}

// reapAny collects one child that has ended, if any: the init, an exec
// process, or an orphan. Preconditions: s.runMu held (no os/exec child
// runs).
func (s *Shim) reapAny() bool {
	var ws unix.WaitStatus
	s.execMu.Lock()
	defer s.execMu.Unlock()
	p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	if p <= 0 || err != nil {
		return false
	}
	now := time.Now()
	if p == s.pid && !s.initReaped {
		s.initReaped = true
		go s.finishExit(ws, now)
	} else if ep := s.execPids[p]; ep != nil {
		delete(s.execPids, p)
		go s.finishExec(ep, ws, now)
	} else {
		s.log.Debug("reaped orphan", "pid", p)
	}
	return true
}

// finishExit records the init's end: after the output has ended (or
// ExitDrain passed), exit.json, then the waiters.
func (s *Shim) finishExit(ws unix.WaitStatus, at time.Time) {
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	t := time.NewTimer(ExitDrain)
	select {
	case <-s.ioDone:
		t.Stop()
	case <-t.C:
		s.log.Warn("container output still open after its init exited; recording the exit anyway")
	}
	e := Exit{ID: s.cfg.ID, Pid: s.pid, ExitCode: code, ExitedAt: at.UTC()}
	if err := writeExit(s.cfg.StateDir, e); err != nil {
		s.log.Error("record exit", "err", err)
	}
	s.mu.Lock()
	s.exit = &e
	s.mu.Unlock()
	close(s.exited)
	s.log.Info("container exited", "exit_code", code)
}

// State is the container's state now.
func (s *Shim) State() State {
	st := State{ID: s.cfg.ID, Pid: s.pid, Status: StatusRunning}
	if s.startStatus() == startNone {
		st.Status = StatusCreated
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		st.Status, st.ExitCode, st.ExitedAt = StatusStopped, s.exit.ExitCode, s.exit.ExitedAt
	}
	return st
}

func (s *Shim) startStatus() int {
	if !s.startMu.TryLock() {
		return startDone // a start runs
	}
	defer s.startMu.Unlock()
	return s.startState
}

// start starts a container created with --wait-start. A start that fails
// deletes the container: its init is killed, and the reaper records the
// exit as for any other end.
func (s *Shim) start(ctx context.Context) error {
	id := s.cfg.ID
	s.startMu.Lock()
	defer s.startMu.Unlock()
	switch s.startState {
	case startDone:
		return fmt.Errorf("start container %q: already started", id)
	case startFailed:
		return fmt.Errorf("start container %q: an earlier start failed", id)
	}
	if s.hasExited() {
		return fmt.Errorf("start container %q: it has exited", id)
	}
	if err := s.runtime(ctx, "start", id); err != nil {
		s.startState = startFailed
		s.closeStdin()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := s.runtime(dctx, "delete", "--force", id); derr != nil {
			s.log.Error("delete container after a failed start", "err", derr)
		}
		return err
	}
	s.startState = startDone
	s.log.Info("container started", "pid", s.pid)
	trimMemory()
	return nil
}

func (s *Shim) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// stop releases everything the shim holds and ends serve. The container
// has been deleted.
func (s *Shim) stop() {
	s.stopOnce.Do(func() {
		s.ln.Close()
		s.closeStdin()
		if s.master != nil {
			s.master.Close()
		}
		if s.logw != nil {
			s.logw.Close()
		}
		// After a shutdown the files went before its answer, and the state
		// dir may already hold the next shim's (a restart): leave them.
		s.shutMu.Lock()
		done := s.shutDone
		s.shutMu.Unlock()
		if !done {
			s.removeFiles()
		}
		close(s.done)
	})
}

// removeFiles removes what the shim made in the state dir, but exit.json.
func (s *Shim) removeFiles() {
	for _, n := range []string{SocketName, consoleName, pidName, runtimeLog} {
		if err := os.Remove(s.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove state file", "err", err)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
