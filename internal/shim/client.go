package shim

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Args is the command line of capsa-shim for cfg (without the binary).
func Args(cfg Config) []string {
	a := []string{"--id", cfg.ID, "--bundle", cfg.Bundle, "--runtime", cfg.Runtime,
		"--root", cfg.RuntimeRoot, "--state-dir", cfg.StateDir}
	if cfg.Log.Path != "" {
		a = append(a, "--log-path", cfg.Log.Path,
			"--log-max-size", strconv.FormatInt(cfg.Log.MaxSize, 10),
			"--log-max-file", strconv.Itoa(cfg.Log.MaxFiles))
	}
	if cfg.Terminal {
		a = append(a, "--tty")
	}
	if cfg.Stdin {
		a = append(a, "--stdin")
	}
	if cfg.WaitStart {
		a = append(a, "--wait-start")
	}
	return a
}

// Launch starts the shim binary for cfg and returns once the container runs
// (with cfg.WaitStart: once it is created; Client.Start starts it), or the
// shim failed, with the shim's pid. stderr receives the shim's own
// log (nil: discarded); a regular file keeps receiving it after the start.
// The shim is reaped by a goroutine of the caller while the caller lives.
func Launch(ctx context.Context, bin string, cfg Config, stderr *os.File) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(bin, Args(cfg)...)
	cmd.Stdout = w
	if stderr != nil {
		cmd.Stderr = stderr
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start shim of container %q: %w", cfg.ID, err)
	}
	go func() { _ = cmd.Wait() }()
	type result struct {
		line []byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadBytes('\n')
		res <- result{line, err}
	}()
	var got result
	select {
	case got = <-res:
	case <-ctx.Done():
		// The shim cleans up after itself when it fails; a kill now
		// would leave its container behind, so only stop waiting.
		return 0, fmt.Errorf("start shim of container %q: %w", cfg.ID, ctx.Err())
	}
	if got.err != nil {
		return 0, fmt.Errorf("start shim of container %q: it exited without a word", cfg.ID)
	}
	var rd Ready
	if err := json.Unmarshal(got.line, &rd); err != nil {
		return 0, fmt.Errorf("start shim of container %q: bad ready line %q", cfg.ID, got.line)
	}
	if rd.Error != "" {
		return 0, errors.New(rd.Error)
	}
	return cmd.Process.Pid, nil
}

// Client talks to one shim. Each call uses its own connection, so calls
// may run concurrently.
type Client struct {
	socket string
}

// NewClient returns a client of the shim listening on socket.
func NewClient(socket string) *Client { return &Client{socket: socket} }

// dial connects; until stop is called, the end of ctx cuts the
// connection (stop reports false if it has already).
func (c *Client) dial(ctx context.Context) (conn *net.UnixConn, stop func() bool, err error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, fmt.Errorf("shim %s: %w", c.socket, err)
	}
	stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return nc.(*net.UnixConn), stop, nil
}

func (c *Client) call(ctx context.Context, req Request) (Response, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("shim %s: %s: %w", c.socket, req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Response{}, fmt.Errorf("shim %s: %s: %w", c.socket, req.Op, err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

func (c *Client) stateCall(ctx context.Context, req Request) (State, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return State{}, err
	}
	if resp.State == nil {
		return State{}, nil
	}
	return *resp.State, nil
}

// State returns the container's state.
func (c *Client) State(ctx context.Context) (State, error) {
	return c.stateCall(ctx, Request{Op: OpState})
}

// Start starts a container whose shim runs with --wait-start and returns
// its state once started. An error means the container did not start:
// the shim has deleted it and records its exit as for any other end.
func (c *Client) Start(ctx context.Context) (State, error) {
	return c.stateCall(ctx, Request{Op: OpStart})
}

// Wait blocks until the container has exited and its exit is recorded.
func (c *Client) Wait(ctx context.Context) (State, error) {
	return c.stateCall(ctx, Request{Op: OpWait})
}

// Kill signals the container's init (all: every process in it) through
// the runtime. signal is a name (TERM) or a number.
func (c *Client) Kill(ctx context.Context, signal string, all bool) error {
	_, err := c.call(ctx, Request{Op: OpKill, Signal: signal, All: all})
	return err
}

// Resize sets the window size of the container's terminal.
func (c *Client) Resize(ctx context.Context, rows, cols uint16) error {
	_, err := c.call(ctx, Request{Op: OpResize, Rows: rows, Cols: cols})
	return err
}

// ExecRequest is a process to start in the container.
type ExecRequest struct {
	// ID names the exec (letters, digits, _ . + -, at most 128).
	ID string
	// Process runs; its terminal field is set from Terminal.
	Process *specs.Process
	// Terminal: a pty, of Rows x Cols at first if both are set.
	Terminal   bool
	Rows, Cols uint16
	// Stdin: the stream's bytes go to the process's stdin; otherwise it
	// is /dev/null.
	Stdin bool
	// Detach: no stream; the output is discarded.
	Detach bool
}

// Exec starts a process in the container, held by the shim: it survives
// the caller. Unless req.Detach, stream carries the process's output (in
// attach frames, see Demux; the raw bytes for a terminal) until it has
// exited and its output ended, and takes its stdin (CloseWrite closes it).
// ctx bounds the start only; the caller closes the stream. A process the
// runtime cannot start is an error with the runtime's message.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (pid int, stream *net.UnixConn, err error) {
	proc, err := json.Marshal(req.Process)
	if err != nil {
		return 0, nil, fmt.Errorf("exec %q: process: %w", req.ID, err)
	}
	resp, conn, err := c.stream(ctx, Request{Op: OpExec, ExecID: req.ID, Process: proc,
		Terminal: req.Terminal, Rows: req.Rows, Cols: req.Cols, Stdin: req.Stdin, Detach: req.Detach})
	if err != nil {
		return 0, nil, err
	}
	if req.Detach {
		conn.Close()
		conn = nil
	}
	return resp.Pid, conn, nil
}

// ExecState returns the state of exec execID: its ID is the exec id.
func (c *Client) ExecState(ctx context.Context, execID string) (State, error) {
	return c.stateCall(ctx, Request{Op: OpExecState, ExecID: execID})
}

// WaitExec blocks until exec execID has exited and its output ended.
func (c *Client) WaitExec(ctx context.Context, execID string) (State, error) {
	return c.stateCall(ctx, Request{Op: OpWait, ExecID: execID})
}

// KillExec sends signal (a name or number) to exec execID's process.
func (c *Client) KillExec(ctx context.Context, execID, signal string) error {
	_, err := c.call(ctx, Request{Op: OpKill, ExecID: execID, Signal: signal})
	return err
}

// ResizeExec sets the window size of exec execID's terminal.
func (c *Client) ResizeExec(ctx context.Context, execID string, rows, cols uint16) error {
	_, err := c.call(ctx, Request{Op: OpResize, ExecID: execID, Rows: rows, Cols: cols})
	return err
}

// Shutdown deletes the exited container (force: kills it first) and ends
// the shim.
func (c *Client) Shutdown(ctx context.Context, force bool) (State, error) {
	return c.stateCall(ctx, Request{Op: OpShutdown, Force: force})
}

// Attach streams the container's output into stdout and stderr until it
// ends or ctx does; with stdin non-nil it sends stdin's bytes to the
// container, and when stdin ends (with closeStdin) closes the container's
// stdin.
func (c *Client) Attach(ctx context.Context, stdin io.Reader, closeStdin bool, stdout, stderr io.Writer) error {
	conn, err := c.AttachConn(ctx, stdin != nil, closeStdin)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if stdin != nil {
		go func() {
			if _, err := io.Copy(conn, stdin); err == nil {
				_ = conn.CloseWrite()
			}
		}()
	}
	if err := Demux(conn, stdout, stderr); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("shim %s: attach: %w", c.socket, err)
	}
	return nil
}

// AttachConn attaches to the container and returns the stream: the
// container's output in attach frames (see Demux) to read until EOF, and,
// with stdin, the container's stdin to write (CloseWrite ends it when
// closeStdin). The output is the container's from the moment of the call:
// with --wait-start, attach before Start to miss nothing. ctx bounds the
// attach only; the caller closes the stream.
func (c *Client) AttachConn(ctx context.Context, stdin, closeStdin bool) (*net.UnixConn, error) {
	_, conn, err := c.stream(ctx, Request{Op: OpAttach, Stdin: stdin, CloseStdin: closeStdin})
	return conn, err
}

// stream sends req and reads its response, after which the connection is
// a stream. The response line is read a byte at a time: no stream byte may
// end up in a buffer the caller does not see.
func (c *Client) stream(ctx context.Context, req Request) (Response, *net.UnixConn, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return Response{}, nil, err
	}
	done := func() { stop(); conn.Close() }
	fail := func(err error) (Response, *net.UnixConn, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		done()
		return Response{}, nil, fmt.Errorf("shim %s: %s: %w", c.socket, req.Op, err)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return fail(err)
	}
	var line []byte
	var b [1]byte
	for {
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return fail(err)
		}
		if b[0] == '\n' {
			break
		}
		if line = append(line, b[0]); len(line) > maxRequest {
			return fail(errors.New("response line too long"))
		}
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fail(err)
	}
	if resp.Error != "" {
		done()
		return resp, nil, errors.New(resp.Error)
	}
	// The stream outlives ctx: stop the deadline that ctx would set.
	if !stop() {
		return fail(ctx.Err())
	}
	return resp, conn, nil
}

// Demux copies a stream of attach frames from r into stdout and stderr
// (nil: discarded) until r ends.
func Demux(r io.Reader, stdout, stderr io.Writer) error {
	br := bufio.NewReaderSize(r, 32*1024)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		w := stdout
		if hdr[0] == StreamStderr {
			w = stderr
		}
		if w == nil {
			w = io.Discard
		}
		if _, err := io.CopyN(w, br, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return err
		}
	}
}
