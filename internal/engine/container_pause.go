package engine

import (
	"context"
	"fmt"
	"strings"
)

// Pause freezes every process of a running container (the runtime's
// pause: its cgroup's freezer).
func (e *Engine) Pause(ctx context.Context, ref string) error {
	return e.freeze(ctx, ref, "pause", StatusRunning, StatusPaused)
}

// Unpause thaws a paused container.
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	return e.freeze(ctx, ref, "resume", StatusPaused, StatusRunning)
}

func (e *Engine) freeze(ctx context.Context, ref, verb string, from, to Status) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	if st != from || !canTransition(st, to) {
		return fmt.Errorf("%s container %s: %w", verb, shortID(id), &TransitionError{ID: id, From: st, To: to})
	}
	if err := e.runtimeFreeze(ctx, id, verb); err != nil {
		return err
	}
	if err := e.setState(c, to, nil); err != nil {
		return fmt.Errorf("%s container %s: %w", verb, shortID(id), err)
	}
	return nil
}

// runtimeFreeze runs the runtime's pause or resume on container id.
func (e *Engine) runtimeFreeze(ctx context.Context, id, verb string) error {
	out, err := execRuntime(ctx, e.cfg.RuntimePath, "--root", e.runtimeRoot(), verb, id)
	if err != nil {
		return fmt.Errorf("%s container %s: %s: %w", verb, shortID(id), strings.TrimSpace(string(out)), err)
	}
	return nil
}

// thaw resumes a paused container before it is stopped or killed: a
// frozen process does not act on a signal, SIGKILL included, until it
// is thawed. Preconditions: c.opMu held.
func (e *Engine) thaw(ctx context.Context, c *Container) error {
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	if st != StatusPaused {
		return nil
	}
	if err := e.runtimeFreeze(ctx, id, "resume"); err != nil {
		return err
	}
	return e.setState(c, StatusRunning, nil)
}
