package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

// attachWait bounds how long Start waits for the clients attaching before
// the start (docker run without -d) to be registered with the new shim.
const attachWait = 5 * time.Second

// Start runs a created or exited container under a new capsa-shim.
// Starting a running container is a conflict. A start by a user clears
// what the restart policy counted.
func (e *Engine) Start(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return e.start(ctx, c)
}

// start is Start, also for the restart policy; a start clears a user's
// stop (which the restart policy respects) with the record of the start,
// so that it holds across a restart of the engine. Preconditions: c.opMu
// held.
func (e *Engine) start(ctx context.Context, c *Container) error {
	c.mu.Lock()
	r := c.rec
	removed := c.removed
	c.mu.Unlock()
	id, from := r.ID, r.State.Status
	if removed {
		return fmt.Errorf("start container %s: no such container", shortID(id))
	}
	if !canTransition(from, StatusRunning) || from == StatusPaused || from == StatusRestarting && !c.restarting() {
		return fmt.Errorf("start container %s: %w", shortID(id), &TransitionError{ID: id, From: from, To: StatusRunning})
	}
	fail := func(err error) error { return fmt.Errorf("start container %s: %w", shortID(id), err) }
	if err := e.ensureMounted(ctx, id); err != nil {
		return fail(err)
	}
	if err := os.Remove(filepath.Join(e.stateDir(id), shim.ExitName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	waitNetwork, err := e.setupNetwork(ctx, c)
	if err != nil {
		return e.startFailed(c, fail(err))
	}
	// The namespace is on record before the shim runs: an engine killed
	// from here on finds it again (and releases it, or keeps it for the
	// container it adopts; its addresses, if not recorded yet, are the
	// plugins' cache's and go as orphans when the container does).
	if err := e.setState(c, "", nil); err != nil {
		_ = waitNetwork()
		return e.startFailed(c, fail(err))
	}
	shimLog, err := os.OpenFile(filepath.Join(e.bundleDir(id), "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = waitNetwork()
		return e.startFailed(c, fail(err))
	}
	maxFiles := r.Log.MaxFiles
	if maxFiles < 1 {
		maxFiles = 1
	}
	cfg := shim.Config{
		ID:          id,
		Bundle:      e.bundleDir(id),
		Runtime:     e.runtimePath(r.Runtime),
		RuntimeRoot: e.runtimeRoot(r.Runtime),
		StateDir:    e.stateDir(id),
		Log:         logfile.Config{Path: e.logPath(id), MaxSize: r.Log.MaxSize, MaxFiles: maxFiles},
		Terminal:    r.Tty,
		Stdin:       r.OpenStdin,
		WaitStart:   true,
	}
	// Another runtime's error is in its own words: say whose.
	runtimeErr := func(err error) error {
		if r.Runtime != "" && r.Runtime != e.cfg.DefaultRuntime {
			return fmt.Errorf("runtime %s (%s): %w", r.Runtime, cfg.Runtime, err)
		}
		return err
	}
	shimPid, err := shim.Launch(ctx, e.cfg.ShimPath, cfg, shimLog)
	shimLog.Close()
	// The interfaces were made meanwhile; the process starts only below.
	netErr := waitNetwork()
	if err != nil {
		return e.startFailed(c, fail(runtimeErr(err)))
	}
	if netErr != nil {
		e.abandonShim(id)
		return e.startFailed(c, fail(netErr))
	}
	cl := e.client(id)
	e.releaseAttachers(c)
	st, err := cl.Start(ctx)
	if err != nil {
		e.abandonShim(id)
		return e.startFailed(c, fail(runtimeErr(err)))
	}
	err = e.setState(c, StatusRunning, func(s *State) {
		health := s.Health
		if health != nil {
			health = &Health{Status: HealthStarting}
		}
		*s = State{Status: StatusRunning, Pid: st.Pid, ShimPid: shimPid, StartedAt: time.Now().UTC(), Health: health}
		c.rec.ManuallyStopped = false // c.mu is held
	})
	if err != nil {
		e.abandonShim(id)
		return fail(err)
	}
	e.emit(Event{Type: "container", Action: "start", ID: id})
	e.monitor(c, id)
	e.startHealthcheck(c)
	return nil
}

// startFailed records a failed start as dockerd does: the container keeps
// its status with the exit code of the failure (127: the command was not
// found, 126: it could not be run) and the error, and goes if it was to
// be removed on exit (docker run --rm waits for that).
func (e *Engine) startFailed(c *Container, err error) error {
	e.releaseNetwork(context.Background(), c)
	code := StartExitCode(err)
	_ = e.setState(c, "", func(s *State) { s.ExitCode, s.Error = code, err.Error() })
	e.emit(Event{Type: "container", Action: "die", ID: c.rec.ID, Attributes: map[string]string{"exitCode": strconv.Itoa(code)}})
	c.mu.Lock()
	auto, id := c.rec.AutoRemove, c.rec.ID
	c.mu.Unlock()
	if auto {
		go func() {
			if rerr := e.Remove(context.Background(), id, true); rerr != nil {
				e.log.Warn("auto-remove after a failed start", "container", id, "err", rerr)
			}
		}()
	}
	return err
}

// StartExitCode is the exit code docker gives a container whose process
// could not be started: 127 when the command was not found, 126 when it
// could not be run, 128 otherwise.
func StartExitCode(err error) int {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "not found in $path"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"),
		strings.Contains(msg, "not a directory"), strings.Contains(msg, "exec format error"),
		strings.Contains(msg, "too many levels of symbolic links"):
		return 126
	}
	return 128
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

// attachWaiter is a client that attached to a container before it ran:
// Start tells it when the shim listens (shimUp) and waits, before it
// starts the container, until the client's stream is registered
// (attached), so that it sees the container's first byte.
type attachWaiter struct {
	shimUp   chan struct{}
	attached chan struct{}
}

// releaseAttachers lets the clients waiting for c's shim attach, and
// waits (at most attachWait) until they have.
func (e *Engine) releaseAttachers(c *Container) {
	c.mu.Lock()
	ws := c.attachWaiters
	c.attachWaiters = nil
	c.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		close(w.shimUp)
	}
	deadline := time.NewTimer(attachWait)
	defer deadline.Stop()
	for _, w := range ws {
		select {
		case <-w.attached:
		case <-deadline.C:
			return
		}
	}
}
