package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/capsa-dev/capsa/internal/mountinfo"
	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// Reconcile brings the records in line with the machine, as after a
// restart of the engine (Open calls it):
//
//   - a running container whose shim answers stays running (or becomes
//     exited if the shim says its container has ended), and is monitored;
//   - one whose shim is gone becomes exited with the code of its exit
//     record, or exited(255) if there is none, after its runtime state is
//     deleted (dead if that fails);
//   - a missing root mount of a live container is mounted again;
//   - mounts, snapshots and directories of containers without a record
//     are removed.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.mu.Lock()
	cs := make([]*Container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if err := e.reconcileContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.removeOrphans(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (e *Engine) reconcileContainer(ctx context.Context, c *Container) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	log := e.log.With("container", id)
	switch {
	case st.Running():
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		state, err := e.client(id).State(sctx)
		cancel()
		switch {
		case err == nil && state.Status == shim.StatusRunning:
			if err := e.ensureMounted(ctx, id); err != nil {
				log.Warn("remount rootfs", "err", err)
			}
			if err := e.setState(c, "", func(s *State) { s.Pid = state.Pid }); err != nil {
				log.Warn("record pid", "err", err)
			}
			e.monitor(c, id)
		case err == nil:
			// The shim outlived its container: end it and record the exit.
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := e.client(id).Shutdown(sctx, false); err != nil {
				log.Warn("shut down shim", "err", err)
			}
			cancel()
			e.recordExit(c, state.ExitCode, state.ExitedAt, "")
		default:
			ex, rerr := shim.ReadExit(e.stateDir(id))
			rt := c.runtimeName()
			e.runtimeDelete(id, rt)
			os.Remove(filepath.Join(e.stateDir(id), shim.SocketName))
			if _, serr := os.Stat(filepath.Join(e.runtimeRoot(rt), id)); serr == nil {
				return e.setState(c, StatusDead, func(s *State) {
					s.Pid, s.ShimPid, s.ExitCode, s.FinishedAt = 0, 0, 255, time.Now().UTC()
					s.Error = "shim gone and its runtime state could not be deleted"
				})
			}
			if rerr == nil {
				e.recordExit(c, ex.ExitCode, ex.ExitedAt, "")
			} else {
				e.recordExit(c, 255, time.Time{}, "shim gone without an exit record")
			}
		}
	case st == StatusCreated || st == StatusExited:
		if err := e.ensureMounted(ctx, id); err != nil {
			err = fmt.Errorf("reconcile container %s: %w", shortID(id), err)
			if serr := e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() }); serr != nil {
				log.Warn("mark dead", "err", serr)
			}
			return err
		}
	case st == StatusRemoving:
		return e.setState(c, StatusDead, func(s *State) { s.Error = "engine stopped during removal" })
	}
	return nil
}

// mountpoints returns the mount points of this process's mount namespace.
func mountpoints() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mps := map[string]bool{}
	for _, m := range mountinfo.Parse(b) {
		mps[m.Mountpoint] = true
	}
	return mps, nil
}

// ensureMounted mounts container id's snapshot on its rootfs dir unless it
// is mounted there.
func (e *Engine) ensureMounted(ctx context.Context, id string) error {
	mps, err := mountpoints()
	if err != nil {
		return err
	}
	rootfs := e.rootfsDir(id)
	if mps[rootfs] {
		return nil
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(e.stateDir(id), 0o700); err != nil {
		return err
	}
	ms, err := e.snap.Mounts(ctx, id)
	if err != nil {
		return fmt.Errorf("rootfs of container %s: %w", shortID(id), err)
	}
	return snapshot.MountAll(ms, rootfs)
}

// removeOrphans removes the mounts, directories and snapshots of
// containers that have no record (left by a crash in Create or Remove).
func (e *Engine) removeOrphans(ctx context.Context) error {
	e.mu.Lock()
	known := map[string]bool{}
	for id := range e.containers {
		known[id] = true
	}
	e.mu.Unlock()
	orphans := map[string]bool{}
	for _, dir := range []string{filepath.Join(e.cfg.RunRoot, "containers"), filepath.Join(e.cfg.DataRoot, "containers")} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, ent := range ents {
			if isID(ent.Name()) && !known[ent.Name()] {
				orphans[ent.Name()] = true
			}
		}
	}
	err := e.snap.Walk(ctx, func(info snapshot.Info) error {
		if info.Kind == snapshot.KindActive && isID(info.Name) && !known[info.Name] {
			orphans[info.Name] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for id := range orphans {
		e.log.Info("remove leftovers of a container without a record", "container", id)
		if err := e.cleanupContainer(ctx, id, ""); err != nil {
			errs = append(errs, fmt.Errorf("remove leftovers of container %s: %w", shortID(id), err))
		}
	}
	return errors.Join(errs...)
}

// autoRemoveOnOpen removes, after a restart of the engine, the containers
// to be removed on exit (docker run --rm) that exited while the engine was
// down, as dockerd's restore does: no monitor saw their exit.
func (e *Engine) autoRemoveOnOpen(ctx context.Context) {
	e.mu.Lock()
	var ids []string
	for id, c := range e.containers {
		c.mu.Lock()
		st := c.rec.State.Status
		if c.rec.AutoRemove && (st == StatusExited || st == StatusDead) {
			ids = append(ids, id)
		}
		c.mu.Unlock()
	}
	e.mu.Unlock()
	for _, id := range ids {
		if err := e.Remove(ctx, id, false); err != nil {
			e.log.Warn("auto-remove after engine restart", "container", id, "err", err)
		}
	}
}
