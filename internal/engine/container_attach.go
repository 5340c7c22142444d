package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// PendingAttach is an attach to a container's stdio, registered with the
// container, to connect with Connect (once: a stream of output frames to
// read, and stdin to write when asked and the container keeps its stdin
// open; see shim.Client.AttachConn) or drop with Cancel. A container that
// does not run yet is waited for: the stream is registered before its
// next start, so nothing of its output is missed (docker run attaches,
// then starts). A front door registers it
// before it tells its client that the attach is there (the API's 101
// answer), so that a start the client sends next finds it.
type PendingAttach struct {
	// Tty: the container has a terminal.
	Tty bool

	e                 *Engine
	c                 *Container
	id                string
	stdin, closeStdin bool
	// w is the registration with a container that did not run; nil: it
	// ran, and Connect attaches at once.
	w *attachWaiter
}

// PrepareAttach registers an attach to container ref; see PendingAttach.
func (e *Engine) PrepareAttach(ref string, stdin bool) (*PendingAttach, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return nil, errdefs.NotFound(fmt.Sprintf("no such container: %s", ref))
	}
	p := &PendingAttach{
		Tty: c.rec.Tty, e: e, c: c, id: c.rec.ID,
		stdin: stdin && c.rec.OpenStdin, closeStdin: c.rec.StdinOnce,
	}
	if st := c.rec.State.Status; st != StatusRunning && st != StatusPaused {
		p.w = &attachWaiter{shimUp: make(chan struct{}), attached: make(chan struct{})}
		c.attachWaiters = append(c.attachWaiters, p.w)
	}
	return p, nil
}

// Connect waits, if the container did not run, for its start to bring its
// shim up (or its removal, or ctx's end), and attaches.
func (p *PendingAttach) Connect(ctx context.Context) (*net.UnixConn, error) {
	if p.w != nil {
		defer close(p.w.attached)
	wait:
		for {
			p.c.mu.Lock()
			removed, changed := p.c.removed, p.c.changed
			p.c.mu.Unlock()
			if removed {
				p.Cancel()
				return nil, errdefs.NotFound(fmt.Sprintf("no such container: %s", p.id))
			}
			select {
			case <-p.w.shimUp:
				break wait
			case <-changed:
			case <-ctx.Done():
				p.Cancel()
				return nil, ctx.Err()
			}
		}
	}
	conn, err := p.e.client(p.id).AttachConn(ctx, p.stdin, p.closeStdin)
	if err != nil {
		return nil, fmt.Errorf("attach to container %s: %w", shortID(p.id), err)
	}
	return conn, nil
}

// Cancel drops an attach that will not connect.
func (p *PendingAttach) Cancel() {
	if p.w == nil {
		return
	}
	p.c.mu.Lock()
	p.c.attachWaiters = slices.DeleteFunc(p.c.attachWaiters, func(x *attachWaiter) bool { return x == p.w })
	p.c.mu.Unlock()
}

// Resize sets the size of the container's terminal.
func (e *Engine) Resize(ctx context.Context, ref string, rows, cols uint16) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	id, st, tty := c.rec.ID, c.rec.State.Status, c.rec.Tty
	c.mu.Unlock()
	if !tty {
		return errdefs.Conflict(fmt.Sprintf("resize container %s: it has no terminal", shortID(id)))
	}
	if st != StatusRunning && st != StatusPaused {
		return errdefs.Conflict(fmt.Sprintf("resize container %s: container is %s, not running", shortID(id), st))
	}
	return e.client(id).Resize(ctx, rows, cols)
}

// LogsOptions select what Logs reads.
type LogsOptions struct {
	// Follow waits for more output while the container runs.
	Follow bool
	// Since and Until bound the entries' times (zero: no bound).
	Since, Until time.Time
	// Tail: only the last Tail entries (negative: all).
	Tail int
}

// Logs calls fn with the container's logged output, oldest first.
func (e *Engine) Logs(ctx context.Context, ref string, opts LogsOptions, fn func(logfile.Entry) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	id, lc := c.rec.ID, c.rec.Log
	c.mu.Unlock()
	cfg := logfile.Config{Path: e.logPath(id), MaxSize: lc.MaxSize, MaxFiles: max(lc.MaxFiles, 1)}
	keep := func(en logfile.Entry) bool {
		return (opts.Since.IsZero() || !en.Time.Before(opts.Since)) && (opts.Until.IsZero() || !en.Time.After(opts.Until))
	}
	if opts.Tail >= 0 {
		// The tail is found by a first pass; following continues after it.
		var ring []logfile.Entry
		err := logfile.Read(ctx, cfg, false, func(en logfile.Entry) error {
			if keep(en) {
				ring = append(ring, en)
				if len(ring) > opts.Tail {
					ring = ring[1:]
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, en := range ring {
			if err := fn(en); err != nil {
				return err
			}
		}
		if !opts.Follow {
			return nil
		}
		last := time.Time{}
		if len(ring) > 0 {
			last = ring[len(ring)-1].Time
		}
		return e.follow(ctx, c, cfg, func(en logfile.Entry) error {
			if !en.Time.After(last) || !keep(en) {
				return nil
			}
			return fn(en)
		})
	}
	if !opts.Follow {
		return logfile.Read(ctx, cfg, false, func(en logfile.Entry) error {
			if !keep(en) {
				return nil
			}
			return fn(en)
		})
	}
	return e.follow(ctx, c, cfg, func(en logfile.Entry) error {
		if !keep(en) {
			return nil
		}
		return fn(en)
	})
}

// follow reads the log with follow until the container no longer runs
// (then what it wrote last is read too) or ctx ends.
func (e *Engine) follow(ctx context.Context, c *Container, cfg logfile.Config, fn func(logfile.Entry) error) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if _, err := e.waitExit(fctx, c, 0); err == nil {
			// The shim has flushed the output before it recorded the exit;
			// give the reader two polls to get to the end.
			select {
			case <-time.After(2*logfile.PollInterval + 50*time.Millisecond):
			case <-fctx.Done():
			}
			cancel()
		}
	}()
	err := logfile.Read(fctx, cfg, true, fn)
	if ctx.Err() == nil && fctx.Err() != nil {
		return nil
	}
	return err
}
