package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// Remove deletes a container: its shim, its root mount and snapshot, its
// record and its directories. A running container is a conflict unless
// force, which kills it first. Its anonymous volumes stay, unless it was
// made with AutoRemove (--rm), as docker's.
func (e *Engine) Remove(ctx context.Context, ref string, force bool) error {
	return e.remove(ctx, ref, force, false)
}

// RemoveWithVolumes is Remove that also removes the container's
// anonymous volumes (docker rm -v).
func (e *Engine) RemoveWithVolumes(ctx context.Context, ref string, force bool) error {
	return e.remove(ctx, ref, force, true)
}

func (e *Engine) remove(ctx context.Context, ref string, force, anonVolumes bool) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, st, removed := c.rec.ID, c.rec.State.Status, c.removed
	c.mu.Unlock()
	if removed {
		return errdefs.NotFound(fmt.Sprintf("no such container: %s", ref))
	}
	if st == StatusRestarting && !force {
		return errdefs.Conflict(fmt.Sprintf("You cannot remove a restarting container %s. Stop the container before attempting removal or force remove", id))
	}
	e.cancelRestart(c)
	c.mu.Lock()
	st = c.rec.State.Status
	c.mu.Unlock()
	fail := func(err error) error { return fmt.Errorf("remove container %s: %w", shortID(id), err) }
	if st.Running() {
		if !force {
			// dockerd's words.
			if st == StatusPaused {
				return errdefs.Conflict(fmt.Sprintf("You cannot remove a paused container %s. Unpause and then stop the container before attempting removal or force remove", id))
			}
			return errdefs.Conflict(fmt.Sprintf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", id))
		}
		// The exit the kill causes must not start the restart policy
		// (which would also keep waitExit from seeing it exited).
		c.mu.Lock()
		c.rec.ManuallyStopped = true
		c.mu.Unlock()
		if err := e.thaw(ctx, c); err != nil {
			e.log.Warn("resume before removal", "container", id, "err", err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := e.client(id).Shutdown(sctx, true); err != nil {
			e.log.Debug("shut down shim", "container", id, "err", err)
		}
		cancel()
		// The monitor records the exit; a shim that does not answer is
		// given a few seconds, then the runtime state goes by force.
		if exited, err := e.waitExit(ctx, c, 5*time.Second); err != nil {
			return fail(err)
		} else if !exited {
			e.runtimeDelete(id, c.runtimeName())
			e.recordExit(c, 137, time.Time{}, "removed by force")
		}
	}
	e.releaseNetwork(ctx, c)
	if err := e.setState(c, StatusRemoving, nil); err != nil {
		return fail(err)
	}
	if err := e.cleanupContainer(ctx, id, c.runtimeName()); err != nil {
		_ = e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() })
		return fail(err)
	}
	e.emit(Event{Type: "container", Action: "destroy", ID: id})
	c.mu.Lock()
	vols, autoRemove := c.rec.Volumes, c.rec.AutoRemove
	c.mu.Unlock()
	if err := e.deleteRecord(c); err != nil {
		_ = e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() })
		return fail(err)
	}
	e.releaseVolumes(id, vols, anonVolumes || autoRemove)
	return nil
}

// cleanupContainer removes what container id has on the machine, but its
// record: runtime state, root mount, snapshot and directories. What is
// already gone is not an error.
func (e *Engine) cleanupContainer(ctx context.Context, id, runtime string) error {
	e.runtimeDelete(id, runtime)
	if err := removeCgroups(ctx, id); err != nil {
		return err
	}
	if err := snapshot.UnmountAll(e.rootfsDir(id)); err != nil {
		return err
	}
	if err := e.snap.Remove(ctx, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	for _, d := range []string{e.stateDir(id), e.bundleDir(id)} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// runtimeDelete removes the runtime's state of container id (its cgroup
// too) if there is any: after a shim died without deleting it. runtime
// "" (a container without a record) tries every runtime.
func (e *Engine) runtimeDelete(id, runtime string) {
	names := []string{runtime}
	if runtime == "" {
		names = slices.Sorted(maps.Keys(e.cfg.Runtimes))
	}
	for _, name := range names {
		root := e.runtimeRoot(name)
		if _, err := os.Stat(filepath.Join(root, id)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if out, err := execRuntime(ctx, e.runtimePath(name), "--root", root, "delete", "--force", id); err != nil {
			e.log.Warn("runtime delete", "container", id, "runtime", name, "err", err, "output", string(out))
		}
		cancel()
	}
}

// runtimeName is the name of c's runtime.
func (c *Container) runtimeName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec.Runtime
}
