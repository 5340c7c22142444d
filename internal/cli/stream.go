package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"
)

// defaultDetachKeys is docker's default escape sequence: ctrl-p, ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// errDetached is the end of an attached session by the detach keys.
var errDetached = errors.New("read escape sequence")

// parseDetachKeys turns "ctrl-p,ctrl-q" (or "a,ctrl-@") into bytes.
func parseDetachKeys(keys string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(keys, ",") {
		if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(c) != 1 {
			return nil, fmt.Errorf("invalid detach keys (%s) provided", keys)
		}
		switch ch := c[0]; {
		case ch >= 'a' && ch <= 'z':
			out = append(out, ch-'a'+1)
		case ch == '@':
			out = append(out, 0)
		case ch >= '[' && ch <= '_':
			out = append(out, ch-'['+27)
		default:
			return nil, fmt.Errorf("invalid detach keys (%s) provided", keys)
		}
	}
	return out, nil
}

// escapeProxy passes reads through until the escape sequence is typed,
// then fails with errDetached (after passing on what came before it). A
// partial match is held back and passed on when the next byte does not
// continue it.
type escapeProxy struct {
	r        io.Reader
	keys     []byte
	matched  int
	pending  []byte
	detached bool
}

func (e *escapeProxy) Read(p []byte) (int, error) {
	for {
		if len(e.pending) > 0 {
			n := copy(p, e.pending)
			e.pending = e.pending[n:]
			return n, nil
		}
		if e.detached {
			return 0, errDetached
		}
		buf := make([]byte, len(p))
		n, err := e.r.Read(buf)
		for _, b := range buf[:n] {
			if e.matched > 0 && b != e.keys[e.matched] {
				e.pending = append(e.pending, e.keys[:e.matched]...)
				e.matched = 0
			}
			if b == e.keys[e.matched] {
				e.matched++
				if e.matched == len(e.keys) {
					e.detached = true
					break
				}
				continue
			}
			e.pending = append(e.pending, b)
		}
		if len(e.pending) > 0 || e.detached {
			continue
		}
		if err != nil {
			return 0, err
		}
	}
}

// streams is one attached session: the local standard streams and the
// terminal state to put back.
type streams struct {
	in         io.Reader // nil: no input
	out, errw  io.Writer
	tty        bool
	detachKeys []byte
}

// pump copies the session over a hijacked connection until the output
// ends, the detach keys are typed, or ctx ends. It returns errDetached when
// the user detached.
func pump(ctx context.Context, resp *client.HijackedResponse, s streams) error {
	outDone := make(chan error, 1)
	go func() {
		var err error
		if s.tty {
			_, err = io.Copy(s.out, resp.Reader)
		} else {
			_, err = stdcopy.StdCopy(s.out, s.errw, resp.Reader)
		}
		outDone <- err
	}()
	inDone := make(chan error, 1)
	if s.in != nil {
		go func() {
			in := s.in
			if s.tty && len(s.detachKeys) > 0 {
				in = &escapeProxy{r: in, keys: s.detachKeys}
			}
			_, err := io.Copy(resp.Conn, in)
			if errors.Is(err, errDetached) {
				inDone <- err
				return
			}
			_ = resp.CloseWrite()
			inDone <- nil
		}()
	}
	select {
	case err := <-outDone:
		return ignoreClosed(err)
	case err := <-inDone:
		if err != nil {
			return err
		}
		select {
		case err := <-outDone:
			return ignoreClosed(err)
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection") {
		return nil
	}
	return err
}

// fdOf returns the descriptor behind a stream, if it is a file.
func fdOf(v any) (int, bool) {
	f, ok := v.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	return int(f.Fd()), true
}

func isTerminal(v any) bool {
	fd, ok := fdOf(v)
	return ok && term.IsTerminal(fd)
}

// rawTerminal puts the terminal behind in (if it is one) in raw mode and
// returns the function that restores it.
func rawTerminal(in any) func() {
	fd, ok := fdOf(in)
	if !ok || !term.IsTerminal(fd) {
		return func() {}
	}
	st, err := term.MakeRaw(fd)
	if err != nil {
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(func() { _ = term.Restore(fd, st) }) }
}

// terminalSize is the height and width of the terminal behind out.
func terminalSize(out any) (h, w uint, ok bool) {
	fd, isFile := fdOf(out)
	if !isFile {
		return 0, 0, false
	}
	width, height, err := term.GetSize(fd)
	if err != nil || width == 0 || height == 0 {
		return 0, 0, false
	}
	return uint(height), uint(width), true
}

// monitorSize sends the terminal's size with resize now and at every
// SIGWINCH until ctx ends.
func monitorSize(ctx context.Context, out any, resize func(h, w uint) error) {
	send := func() {
		if h, w, ok := terminalSize(out); ok {
			_ = resize(h, w)
		}
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				send()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// proxySignals forwards the signals this process receives to the
// container until ctx ends (--sig-proxy).
func proxySignals(ctx context.Context, cl *client.Client, id string) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case s := <-ch:
				sig, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				switch sig {
				case syscall.SIGCHLD, syscall.SIGPIPE, syscall.SIGWINCH, syscall.SIGURG:
					continue
				}
				_, _ = cl.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: fmt.Sprint(int(sig))})
			case <-ctx.Done():
				return
			}
		}
	}()
}
