package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/capsa-dev/capsa/internal/errdefs"
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
	// dockerd's words, which clients match.
	switch {
	case verb == "pause" && st == StatusPaused:
		return errdefs.Conflict(fmt.Sprintf("Container %s is already paused", id))
	case verb == "pause" && st != StatusRunning:
		return errdefs.Conflict(fmt.Sprintf("Container %s is not running", id))
	case verb == "resume" && st != StatusPaused:
		return errdefs.Conflict(fmt.Sprintf("Container %s is not paused", id))
	}
	if st != from || !canTransition(st, to) {
		return fmt.Errorf("%s container %s: %w", verb, shortID(id), &TransitionError{ID: id, From: st, To: to})
	}
	if err := e.runtimeFreeze(ctx, c, verb); err != nil {
		return err
	}
	if err := e.setState(c, to, nil); err != nil {
		return fmt.Errorf("%s container %s: %w", verb, shortID(id), err)
	}
	action := "pause"
	if to == StatusRunning {
		action = "unpause"
	}
	e.emit(Event{Type: "container", Action: action, ID: id})
	return nil
}

// runtimeFreeze runs the runtime's pause or resume on container c.
func (e *Engine) runtimeFreeze(ctx context.Context, c *Container, verb string) error {
	c.mu.Lock()
	id, rt := c.rec.ID, c.rec.Runtime
	c.mu.Unlock()
	out, err := execRuntime(ctx, e.runtimePath(rt), "--root", e.runtimeRoot(rt), verb, id)
	if err != nil {
		return fmt.Errorf("%s container %s: %s: %w", verb, shortID(id), strings.TrimSpace(string(out)), err)
	}
	return nil
}

// thaw resumes a paused container before it is stopped or killed: a
// frozen process does not act on a signal, SIGKILL included, until it
// is thawed. Preconditions: c.opMu held.
func (e *Engine) thaw(ctx context.Context, c *Container) error {
	if c.status() != StatusPaused {
		return nil
	}
	if err := e.runtimeFreeze(ctx, c, "resume"); err != nil {
		return err
	}
	return e.setState(c, StatusRunning, nil)
}
