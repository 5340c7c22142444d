package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

// Docker's restart back-off: the first restart after 100 ms, each next one
// after twice the delay, at most a minute; a container that ran for 10 s
// or more starts over at 100 ms.
const (
	restartDelayMin   = 100 * time.Millisecond
	restartDelayMax   = time.Minute
	restartResetAfter = 10 * time.Second
)

// Restart stops the container (as Stop, with timeout; negative: the
// container's stop timeout) and starts it again.
func (e *Engine) Restart(ctx context.Context, ref string, timeout time.Duration) error {
	return e.RestartWithSignal(ctx, ref, timeout, "")
}

// RestartWithSignal is Restart with signal instead of the container's
// stop signal ("": the container's; docker restart --signal).
func (e *Engine) RestartWithSignal(ctx context.Context, ref string, timeout time.Duration, signal string) error {
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
	defer c.opMu.Unlock()
	e.cancelRestart(c)
	// The stop is the user's: the restart policy must not act on the exit
	// (its pending restart would keep the container "restarting", which
	// the stop waits through). The start clears the mark.
	c.mu.Lock()
	c.rec.ManuallyStopped = true
	c.mu.Unlock()
	wasRunning := c.status().Running()
	if err := e.stop(ctx, c, e.stopTimeout(c, timeout), signal); err != nil {
		return err
	}
	if wasRunning {
		e.emit(Event{Type: "container", Action: "stop", ID: c.rec.ID})
	}
	if err := e.start(ctx, c); err != nil {
		return err
	}
	e.emit(Event{Type: "container", Action: "restart", ID: c.rec.ID})
	return nil
}

// shouldRestart applies c's restart policy to an exit with code.
// Preconditions: c.mu held.
func (c *Container) shouldRestart(code int) bool {
	r := c.rec
	if r.ManuallyStopped || c.removed {
		return false
	}
	switch r.Restart.Name {
	case RestartAlways, RestartUnlessStopped:
		return true
	case RestartOnFailure:
		return code != 0 && (r.Restart.MaxRetries == 0 || r.RestartCount < r.Restart.MaxRetries)
	}
	return false
}

// afterExit applies AutoRemove or the restart policy once c has exited.
func (e *Engine) afterExit(c *Container, code int) {
	c.mu.Lock()
	id, auto := c.rec.ID, c.rec.AutoRemove
	restart := c.shouldRestart(code)
	ran := c.rec.State.FinishedAt.Sub(c.rec.State.StartedAt)
	c.mu.Unlock()
	if auto {
		go func() {
			if err := e.Remove(context.Background(), id, false); err != nil {
				e.log.Warn("auto-remove", "container", id, "err", err)
			}
		}()
		return
	}
	if restart {
		e.scheduleRestart(c, ran)
	}
}

// scheduleRestart moves c to restarting and starts it after the back-off.
func (e *Engine) scheduleRestart(c *Container, ran time.Duration) {
	c.mu.Lock()
	if ran >= restartResetAfter || c.restartDelay == 0 {
		c.restartDelay = restartDelayMin
	} else {
		c.restartDelay = min(2*c.restartDelay, restartDelayMax)
	}
	delay := c.restartDelay
	c.mu.Unlock()
	err := e.setState(c, StatusRestarting, nil)
	if err != nil {
		e.log.Warn("restart policy", "container", c.rec.ID, "err", err)
		return
	}
	c.mu.Lock()
	c.rec.RestartCount++
	c.restartTimer = time.AfterFunc(delay, func() { e.restartNow(c) })
	c.mu.Unlock()
}

// restartNow is the restart policy's start of c.
func (e *Engine) restartNow(c *Container) {
	if e.monCtx.Err() != nil {
		return
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	pending := c.restartTimer != nil
	c.mu.Unlock()
	if !pending {
		return // cancelled by a stop, start or removal
	}
	err := e.start(e.monCtx, c)
	c.mu.Lock()
	c.restartTimer = nil
	c.mu.Unlock()
	if err != nil {
		e.log.Warn("restart policy: start", "container", c.rec.ID, "err", err)
		e.recordExit(c, 127, time.Time{}, err.Error())
		c.mu.Lock()
		again := c.shouldRestart(127)
		c.mu.Unlock()
		if again {
			e.scheduleRestart(c, 0)
		}
	}
}

// cancelRestart stops a pending restart of c and leaves it exited.
// Preconditions: c.opMu held.
func (e *Engine) cancelRestart(c *Container) {
	c.mu.Lock()
	t := c.restartTimer
	c.restartTimer = nil
	c.mu.Unlock()
	if t == nil {
		return
	}
	t.Stop()
	if err := e.setState(c, StatusExited, nil); err != nil {
		e.log.Warn("cancel restart", "container", c.rec.ID, "err", err)
	}
}

// restartOnOpen starts, after a restart of the engine, the containers
// whose policy wants them running: always, unless-stopped (unless a user
// stopped them) and on-failure after a failure, as dockerd does.
func (e *Engine) restartOnOpen(ctx context.Context) {
	e.mu.Lock()
	cs := make([]*Container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		st, code := c.rec.State.Status, c.rec.State.ExitCode
		want := (st == StatusExited || st == StatusRestarting) && c.shouldRestart(code)
		c.mu.Unlock()
		if !want {
			continue
		}
		if st == StatusRestarting {
			if err := e.setState(c, StatusExited, nil); err != nil {
				continue
			}
		}
		c.opMu.Lock()
		err := e.start(ctx, c)
		c.opMu.Unlock()
		if err != nil {
			e.log.Warn("restart policy after engine restart", "container", c.rec.ID, "err", err)
		}
	}
}

// stopTimeout is timeout, or c's own when timeout is negative, or
// Docker's 10 s.
func (e *Engine) stopTimeout(c *Container, timeout time.Duration) time.Duration {
	if timeout >= 0 {
		return timeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.StopTimeout != nil {
		if *c.rec.StopTimeout < 0 {
			return 24 * time.Hour // -1: wait as long as it takes
		}
		return time.Duration(*c.rec.StopTimeout) * time.Second
	}
	return 10 * time.Second
}
