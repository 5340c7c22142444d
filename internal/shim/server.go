package shim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxRequest bounds one request line.
const maxRequest = 64 * 1024

// serve accepts clients until shutdown.
func (s *Shim) serve() {
	go func() {
		for {
			conn, err := s.ln.accept()
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				s.log.Warn("accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go s.handle(conn)
		}
	}()
	<-s.done
}

// handle answers the requests of one connection.
func (s *Shim) handle(conn *os.File) {
	closeConn := true
	defer func() {
		if closeConn {
			conn.Close()
		}
	}()
	// A client that goes away ends what it waits for.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	br := bufio.NewReaderSize(conn, 4096)
	for {
		line, err := readLine(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = reply(conn, Response{Error: fmt.Sprintf("container %q: %v", s.cfg.ID, err)})
			}
			return
		}
		req, err := decodeRequest(line)
		if err != nil {
			_ = reply(conn, Response{Error: fmt.Sprintf("container %q: bad request: %v", s.cfg.ID, err)})
			return
		}
		if req.Op == OpAttach {
			closeConn = false
			s.attach(conn, br, req)
			return
		}
		if req.Op == OpExec {
			closeConn = false
			s.serveExec(ctx, conn, br, req)
			return
		}
		if req.Op == OpWait {
			// wait ends the connection: so the reader below, which
			// notices a client that went away and ends its wait, is
			// the only one left on br.
			go func() {
				if _, err := br.Peek(1); err != nil {
					cancel()
				}
			}()
			resp, _ := s.do(ctx, req)
			_ = reply(conn, resp)
			return
		}
		resp, after := s.do(ctx, req)
		err = reply(conn, resp)
		// What the request did is done whether or not its client heard
		// the answer: a shutdown whose client went away (capsad killed,
		// a deadline passed) must still end the shim, whose socket is
		// gone already.
		if after != nil {
			after()
			return
		}
		if err != nil {
			return
		}
	}
}

// reply writes one response line.
func reply(conn *os.File, r Response) error {
	_, err := conn.Write(appendResponse(make([]byte, 0, 256), r))
	return err
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxRequest {
			return nil, fmt.Errorf("request longer than %d bytes", maxRequest)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
		return line, nil
	}
}

// validSignal says whether sig can be a signal's name or number: 1 to 16
// letters, digits or +, nothing a runtime's command line could misread.
func validSignal(sig string) bool {
	if len(sig) == 0 || len(sig) > 16 {
		return false
	}
	for i := 0; i < len(sig); i++ {
		if !alnum(sig[i]) && sig[i] != '+' {
			return false
		}
	}
	return true
}

// do answers one request but attach. after, if set, runs once the response
// is sent, and ends the connection.
func (s *Shim) do(ctx context.Context, req Request) (resp Response, after func()) {
	id := s.cfg.ID
	fail := func(format string, a ...any) Response {
		return Response{Error: fmt.Sprintf(format, a...)}
	}
	switch req.Op {
	case OpState:
		st := s.State()
		return Response{OK: true, State: &st}, nil

	case OpStart:
		if err := s.start(ctx); err != nil {
			return fail("%v", err), nil
		}
		st := s.State()
		return Response{OK: true, State: &st}, nil

	case OpExecState:
		st, err := s.execState(req.ExecID)
		if err != nil {
			return fail("%v", err), nil
		}
		return Response{OK: true, State: &st}, nil

	case OpWait:
		if req.ExecID != "" {
			ep, err := s.lookupExec("wait for", req.ExecID)
			if err != nil {
				return fail("%v", err), nil
			}
			select {
			case <-ep.exited:
			case <-ctx.Done():
				return fail("wait for exec %q in container %q: canceled", req.ExecID, id), nil
			}
			st, err := s.execState(req.ExecID)
			if err != nil {
				// Dropped meanwhile: it is stopped.
				s.execMu.Lock()
				st = ep.state()
				s.execMu.Unlock()
			}
			return Response{OK: true, State: &st}, nil
		}
		select {
		case <-s.exited:
		case <-ctx.Done():
			return fail("wait for container %q: canceled", id), nil
		}
		st := s.State()
		return Response{OK: true, State: &st}, nil

	case OpKill:
		sig := req.Signal
		if sig == "" {
			sig = "TERM"
		}
		if !validSignal(sig) {
			return fail("kill container %q: invalid signal %q", id, req.Signal), nil
		}
		if req.ExecID != "" {
			return s.doKillExec(req.ExecID, sig), nil
		}
		if s.hasExited() {
			return fail("kill container %q: not running", id), nil
		}
		args := []string{"kill"}
		if req.All {
			args = append(args, "--all")
		}
		if err := s.runtime(ctx, append(args, id, sig)...); err != nil {
			return fail("%v", err), nil
		}
		st := s.State()
		return Response{OK: true, State: &st}, nil

	case OpResize:
		what, master := fmt.Sprintf("container %q", id), s.master
		if req.ExecID != "" {
			ep, err := s.lookupExec("resize", req.ExecID)
			if err != nil {
				return fail("%v", err), nil
			}
			what, master = fmt.Sprintf("exec %q in container %q", req.ExecID, id), ep.master
		}
		if master == nil {
			return fail("resize %s: it has no terminal", what), nil
		}
		if req.Rows == 0 || req.Cols == 0 {
			return fail("resize %s: rows and cols must be above 0", what), nil
		}
		if err := resize(master, req.Rows, req.Cols); err != nil {
			return fail("resize %s: %v", what, err), nil
		}
		return Response{OK: true}, nil

	case OpShutdown:
		// One shutdown at a time, and once: the engine's monitor and a
		// forced removal may both ask, and a second one must not run the
		// runtime (and write its log) into a state dir already final.
		s.shutMu.Lock()
		defer s.shutMu.Unlock()
		if s.shutDone {
			st := s.State()
			return Response{OK: true, State: &st}, nil
		}
		if !s.hasExited() {
			if !req.Force {
				return fail("shutdown shim of container %q: the container runs; kill it first or use force", id), nil
			}
			if err := s.runtime(ctx, "kill", "--all", id, "KILL"); err != nil && !s.hasExited() {
				return fail("shutdown shim of container %q: %v", id, err), nil
			}
			select {
			case <-s.exited:
			case <-time.After(10 * time.Second):
				return fail("shutdown shim of container %q: still running 10s after SIGKILL", id), nil
			case <-ctx.Done():
				return fail("shutdown shim of container %q: canceled", id), nil
			}
		}
		if err := s.runtime(ctx, "delete", id); err != nil {
			if err2 := s.runtime(ctx, "delete", "--force", id); err2 != nil {
				return fail("shutdown shim of container %q: %v", id, err), nil
			}
		}
		// The state dir is final before the answer: whoever asked may
		// remove it at once. (Unlinking the socket leaves this
		// connection open.)
		s.removeFiles()
		s.shutDone = true
		st := s.State()
		return Response{OK: true, State: &st}, s.stop
	}
	return fail("container %q: unknown op %q", id, req.Op), nil
}

// attach streams the output to conn as frames and, with stdin, the
// client's bytes to the container.
func (s *Shim) attach(conn *os.File, br *bufio.Reader, req Request) {
	defer conn.Close()
	id := s.cfg.ID
	var stdin io.Writer
	if req.Stdin {
		if !s.cfg.Stdin {
			_ = reply(conn, Response{Error: fmt.Sprintf("attach container %q: its stdin is not open (the shim runs without --stdin)", id)})
			return
		}
		if stdin = s.stdinWriter(); stdin == nil {
			_ = reply(conn, Response{Error: fmt.Sprintf("attach container %q: its stdin is closed", id)})
			return
		}
	}
	ch, ok := s.out.subscribe()
	if err := reply(conn, Response{OK: true}); err != nil {
		if ok {
			s.out.unsubscribe(ch)
		}
		return
	}
	if !ok {
		return // the output has ended
	}
	defer s.out.unsubscribe(ch)
	if stdin != nil {
		go func() {
			_, err := io.Copy(stdin, br)
			if err == nil && req.CloseStdin && s.master == nil {
				s.closeStdin()
			}
		}()
	}
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				return
			}
			if _, err := conn.Write(f); err != nil {
				return
			}
		case <-s.done:
			return
		}
	}
}

// doKillExec signals exec eid's process directly.
func (s *Shim) doKillExec(eid, sig string) Response {
	ep, err := s.lookupExec("kill", eid)
	if err != nil {
		return Response{Error: err.Error()}
	}
	n, err := parseSignal(sig)
	if err == nil {
		err = s.killExec(ep, n)
	}
	if err != nil {
		return Response{Error: fmt.Sprintf("kill exec %q in container %q: %v", eid, s.cfg.ID, err)}
	}
	s.execMu.Lock()
	st := ep.state()
	s.execMu.Unlock()
	return Response{OK: true, State: &st}
}

// resize sets the window size of a pty master.
func resize(master *os.File, rows, cols uint16) error {
	ws := &unix.Winsize{Row: rows, Col: cols}
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) { err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
	if cerr != nil {
		return cerr
	}
	return err
}
