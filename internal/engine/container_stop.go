package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

// Stop sends the container its stop signal (its own, the image's, or
// SIGTERM), waits up to timeout (negative: the container's stop timeout)
// for it to exit, then kills it with SIGKILL. It returns as soon as the
// container has exited. A container that does not run is left as it is;
// one waiting for its restart policy stays exited. Restart policies leave
// a stopped container alone.
func (e *Engine) Stop(ctx context.Context, ref string, timeout time.Duration) error {
	return e.StopWithSignal(ctx, ref, timeout, "")
}

// StopWithSignal is Stop with signal instead of the container's stop
// signal ("": the container's; docker stop --signal).
func (e *Engine) StopWithSignal(ctx context.Context, ref string, timeout time.Duration, signal string) error {
	if signal != "" {
		if _, err := oci.ParseSignal(signal); err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid signal: %s", signal))
		}
	}
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	c.mu.Lock()
	c.rec.ManuallyStopped = true
	id, auto, wasRunning := c.rec.ID, c.rec.AutoRemove, c.rec.State.Status.Running()
	c.mu.Unlock()
	e.cancelRestart(c)
	if err := e.stop(ctx, c, e.stopTimeout(c, timeout), signal); err != nil {
		c.opMu.Unlock()
		return err
	}
	e.emit(Event{Type: "container", Action: "stop", ID: id})
	c.opMu.Unlock()
	// A --rm container is gone when stop returns, as with dockerd: a
	// script's "stop x; run --name x" must not meet the old one. The
	// removal needs opMu, so this waits after releasing it.
	if auto && wasRunning {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if ready, err := e.WaitFor(wctx, id, WaitRemoved); err == nil {
			_, _ = ready()
		}
	}
	return nil
}

// stop is Stop. Preconditions: c.opMu held.
func (e *Engine) stop(ctx context.Context, c *Container, timeout time.Duration, signal string) error {
	c.mu.Lock()
	id, sig, st := c.rec.ID, c.rec.StopSignal, c.rec.State.Status
	c.mu.Unlock()
	if signal != "" {
		sig = signal
	}
	if !st.Running() || st == StatusRestarting {
		return nil
	}
	if err := e.thaw(ctx, c); err != nil {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	if sig == "" {
		sig = "TERM"
	}
	cl := e.client(id)
	if timeout > 0 {
		e.emitKill(id, sig)
		if err := cl.Kill(ctx, sig, false); err != nil && c.status().Running() {
			e.log.Debug("stop signal", "container", id, "err", err)
		}
		if exited, err := e.waitExit(ctx, c, timeout); err != nil || exited {
			return err
		}
	}
	e.emitKill(id, "KILL")
	if err := cl.Kill(ctx, "KILL", true); err != nil && c.status().Running() {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	if _, err := e.waitExit(ctx, c, 0); err != nil {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	return nil
}

func (c *Container) status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec.State.Status
}

// waitExit waits until c no longer runs (true), timeout passes (false;
// 0: no timeout) or ctx ends.
func (e *Engine) waitExit(ctx context.Context, c *Container, timeout time.Duration) (bool, error) {
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	for {
		c.mu.Lock()
		running, ch := c.rec.State.Status.Running() && !c.removed, c.changed
		c.mu.Unlock()
		if !running {
			return true, nil
		}
		select {
		case <-ch:
		case <-expire:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Kill sends signal (a name or number) to the container's init.
func (e *Engine) Kill(ctx context.Context, ref, signal string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	if !st.Running() {
		// dockerd's words.
		return errdefs.Conflict(fmt.Sprintf("Cannot kill container: %s: Container %s is not running", ref, id))
	}
	if signal == "" {
		signal = "KILL"
	}
	if st == StatusRestarting {
		return errdefs.Conflict(fmt.Sprintf("kill container %s: container is restarting: wait until it runs", shortID(id)))
	}
	// A killed container is a manually stopped one, whatever the signal:
	// its restart policy leaves it alone (dockerd's killWithSignal).
	c.mu.Lock()
	c.rec.ManuallyStopped = true
	c.mu.Unlock()
	if err := e.client(id).Kill(ctx, signal, false); err != nil {
		return fmt.Errorf("kill container %s: %w", shortID(id), err)
	}
	e.emitKill(id, signal)
	return nil
}

// emitKill reports a signal sent to container id, by kill or by stop, as
// dockerd does: a kill event whose signal is the number ("15").
func (e *Engine) emitKill(id, signal string) {
	if n, err := oci.ParseSignal(signal); err == nil {
		signal = strconv.Itoa(int(n))
	}
	e.emit(Event{Type: "container", Action: "kill", ID: id, Attributes: map[string]string{"signal": signal}})
}

// Wait blocks until the container has exited and returns its exit code.
// A created container is waited for through its start and exit.
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	ready, err := e.WaitFor(ctx, ref, WaitExited)
	if err != nil {
		return 0, err
	}
	return ready()
}

// Wait conditions, Docker's.
const (
	// WaitNotRunning: the container is not running (a created one is not).
	WaitNotRunning = "not-running"
	// WaitNextExit: the container's next exit from now.
	WaitNextExit = "next-exit"
	// WaitRemoved: the container is removed.
	WaitRemoved = "removed"
	// WaitExited: the container has exited; a created one is waited for
	// through its start.
	WaitExited = "exited"
)

// WaitFor registers a wait for condition on the container and returns a
// function that blocks until the condition holds, with the exit code.
// The registration happens before WaitFor returns: an exit after that is
// seen (docker run waits for next-exit before it starts the container).
func (e *Engine) WaitFor(ctx context.Context, ref, condition string) (func() (int, error), error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	exits0 := c.exits
	c.mu.Unlock()
	switch condition {
	case "", WaitNotRunning, WaitNextExit, WaitRemoved, WaitExited:
	default:
		return nil, errdefs.Invalid(fmt.Sprintf("invalid condition: %q", condition))
	}
	return func() (int, error) {
		for {
			c.mu.Lock()
			st, code, removed, ch, exits := c.rec.State.Status, c.rec.State.ExitCode, c.removed, c.changed, c.exits
			c.mu.Unlock()
			var done bool
			switch condition {
			case "", WaitNotRunning:
				done = removed || !st.Running()
			case WaitNextExit:
				done = removed || exits > exits0
			case WaitRemoved:
				done = removed
			case WaitExited:
				done = removed || st == StatusExited || st == StatusDead
			}
			if done {
				return code, nil
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}, nil
}
