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
	return a
}

// Launch starts the shim binary for cfg and returns once the container runs
// (or the shim failed), with the shim's pid. stderr receives the shim's own
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

// dial connects, and closes the connection when ctx ends.
func (c *Client) dial(ctx context.Context) (*net.UnixConn, func(), error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, fmt.Errorf("shim %s: %w", c.socket, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn.(*net.UnixConn), func() { stop(); conn.Close() }, nil
}

func (c *Client) call(ctx context.Context, req Request) (Response, error) {
	conn, done, err := c.dial(ctx)
	if err != nil {
		return Response{}, err
	}
	defer done()
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
	conn, done, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer done()
	req := Request{Op: OpAttach, Stdin: stdin != nil, CloseStdin: closeStdin}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return fmt.Errorf("shim %s: attach: %w", c.socket, err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("shim %s: attach: %w", c.socket, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("shim %s: attach: %w", c.socket, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if stdin != nil {
		go func() {
			if _, err := io.Copy(conn, stdin); err == nil {
				_ = conn.CloseWrite()
			}
		}()
	}
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("shim %s: attach: %w", c.socket, err)
		}
		w := stdout
		if hdr[0] == StreamStderr {
			w = stderr
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if w == nil {
			w = io.Discard
		}
		if _, err := io.CopyN(w, br, n); err != nil {
			return fmt.Errorf("shim %s: attach: %w", c.socket, err)
		}
	}
}
