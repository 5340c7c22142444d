package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// Start runs a created or exited container under a new capsa-shim.
// Starting a running container is a conflict.
func (e *Engine) Start(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, tty, from := c.rec.ID, c.rec.Tty, c.rec.State.Status
	removed := c.removed
	c.mu.Unlock()
	if removed {
		return fmt.Errorf("start container %s: no such container", shortID(id))
	}
	if !canTransition(from, StatusRunning) || from == StatusPaused || from == StatusRestarting {
		return fmt.Errorf("start container %s: %w", shortID(id), &TransitionError{ID: id, From: from, To: StatusRunning})
	}
	fail := func(err error) error { return fmt.Errorf("start container %s: %w", shortID(id), err) }
	if err := e.ensureMounted(ctx, id); err != nil {
		return fail(err)
	}
	if err := os.Remove(filepath.Join(e.stateDir(id), shim.ExitName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	shimLog, err := os.OpenFile(filepath.Join(e.bundleDir(id), "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	cfg := shim.Config{
		ID:          id,
		Bundle:      e.bundleDir(id),
		Runtime:     e.cfg.RuntimePath,
		RuntimeRoot: e.runtimeRoot(),
		StateDir:    e.stateDir(id),
		Log:         logfile.Config{Path: e.logPath(id)},
		Terminal:    tty,
	}
	shimPid, err := shim.Launch(ctx, e.cfg.ShimPath, cfg, shimLog)
	shimLog.Close()
	if err != nil {
		return fail(err)
	}
	cl := e.client(id)
	st, err := cl.State(ctx)
	if err != nil {
		e.abandonShim(id)
		return fail(err)
	}
	err = e.setState(c, StatusRunning, func(s *State) {
		*s = State{Status: StatusRunning, Pid: st.Pid, ShimPid: shimPid, StartedAt: time.Now().UTC()}
	})
	if err != nil {
		e.abandonShim(id)
		return fail(err)
	}
	e.monitor(c, id)
	return nil
}

// abandonShim kills the container of a shim the engine could not record
// and ends the shim.
func (e *Engine) abandonShim(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.client(id).Shutdown(ctx, true); err != nil {
		e.log.Warn("shut down shim", "container", id, "err", err)
	}
}
