package engine

import (
	"context"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// monitor waits, in a goroutine that lives while the engine is open, for
// the running container id to exit; then it ends the shim (which deletes
// the container from the runtime) and records the exit.
func (e *Engine) monitor(c *Container, id string) {
	c.mu.Lock()
	if c.monitoring {
		c.mu.Unlock()
		return
	}
	c.monitoring = true
	c.mu.Unlock()
	e.monWG.Add(1)
	go func() {
		defer e.monWG.Done()
		// done ends the monitoring before the exit is recorded: a Start
		// that follows the exit at once must be able to monitor again.
		done := func() {
			c.mu.Lock()
			c.monitoring = false
			c.mu.Unlock()
		}
		cl := e.client(id)
		st, err := cl.Wait(e.monCtx)
		if e.monCtx.Err() != nil {
			done()
			return // the engine closes; the next Open reconciles
		}
		code, at, msg := st.ExitCode, st.ExitedAt, ""
		if err != nil {
			// The shim is gone: its exit record, if it wrote one, tells.
			if ex, rerr := shim.ReadExit(e.stateDir(id)); rerr == nil {
				code, at = ex.ExitCode, ex.ExitedAt
			} else {
				code, at, msg = 255, time.Now().UTC(), "shim gone without an exit record: "+err.Error()
			}
			e.runtimeDelete(id)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := cl.Shutdown(ctx, false); err != nil {
				e.log.Debug("shut down shim", "container", id, "err", err)
			}
			cancel()
		}
		done()
		e.recordExit(c, code, at, msg)
	}()
}

// recordExit moves a running container to exited with code.
func (e *Engine) recordExit(c *Container, code int, at time.Time, msg string) {
	if at.IsZero() {
		at = time.Now().UTC()
	}
	err := e.setState(c, StatusExited, func(s *State) {
		s.Pid, s.ShimPid, s.ExitCode, s.FinishedAt, s.Error = 0, 0, code, at, msg
	})
	if err != nil {
		e.log.Warn("record exit", "container", c.rec.ID, "err", err)
	}
}
