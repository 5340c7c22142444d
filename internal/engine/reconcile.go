package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

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
	shims := e.shimProcesses()
	var errs []error
	for _, c := range cs {
		if err := e.reconcileContainer(ctx, c, shims); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.removeOrphans(ctx); err != nil {
		errs = append(errs, err)
	}
	e.reconcileNetworks(ctx)
	return errors.Join(errs...)
}

func (e *Engine) reconcileContainer(ctx context.Context, c *Container, shims map[string]int) error {
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
			// (It may be in the middle of a shutdown that the engine asked
			// for before it stopped, and hang once it is done: endShim
			// kills what lingers.)
			e.endShim(ctx, id, shims[id])
			e.recordExit(c, state.ExitCode, state.ExitedAt, "")
		default:
			// A shim that lives but does not answer (one whose client
			// went away in the middle of its shutdown) serves no one.
			if pid := shims[id]; pid != 0 {
				log.Warn("end a shim that does not answer", "shim", pid, "err", err)
				e.endShim(ctx, id, pid)
			}
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
		if e.strayShim(ctx, c, id, shims[id]) {
			return nil
		}
		if err := e.ensureMounted(ctx, id); err != nil {
			err = fmt.Errorf("reconcile container %s: %w", shortID(id), err)
			if serr := e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() }); serr != nil {
				log.Warn("mark dead", "err", serr)
			}
			return err
		}
	case st == StatusRemoving:
		// A user's removal was under way: finish it (capsa has no
		// volumes or links whose fate the user would have to decide).
		if err := e.setState(c, StatusDead, func(s *State) { s.Error = "engine stopped during removal" }); err != nil {
			return err
		}
		if err := e.setState(c, StatusRemoving, nil); err != nil {
			return err
		}
		if err := e.cleanupContainer(ctx, id, c.runtimeName()); err != nil {
			_ = e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() })
			return fmt.Errorf("finish removal of container %s: %w", shortID(id), err)
		}
		e.emit(Event{Type: "container", Action: "destroy", ID: id})
		if err := e.deleteRecord(c); err != nil {
			_ = e.setState(c, StatusDead, func(s *State) { s.Error = err.Error() })
			return fmt.Errorf("finish removal of container %s: %w", shortID(id), err)
		}
	}
	return nil
}

// strayShim deals with a shim of a container recorded as not running (the
// engine died in Start, between the shim's launch and the record of the
// start): a shim whose container runs is adopted, the container recorded
// running and monitored (true); any other is shut down with its container,
// whose runtime state goes too. pid is the shim's process, 0 if none was
// seen. Preconditions: c.opMu held.
func (e *Engine) strayShim(ctx context.Context, c *Container, id string, pid int) bool {
	sock := filepath.Join(e.stateDir(id), shim.SocketName)
	if pid == 0 {
		if _, err := os.Stat(sock); err != nil {
			return false
		}
	}
	log := e.log.With("container", id)
	cl := e.client(id)
	// A shim just launched may not listen yet: give it a moment.
	var state shim.State
	var err error
	for range 20 {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		state, err = cl.State(sctx)
		cancel()
		if err == nil || pid == 0 || !processAlive(pid) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil && state.Status == shim.StatusRunning {
		log.Info("adopt the running container of a shim launched before the engine stopped", "pid", state.Pid)
		if err := e.ensureMounted(ctx, id); err != nil {
			log.Warn("remount rootfs", "err", err)
		}
		err := e.setState(c, StatusRunning, func(s *State) {
			health := s.Health
			if health != nil {
				health = &Health{Status: HealthStarting}
			}
			*s = State{Status: StatusRunning, Pid: state.Pid, ShimPid: pid, StartedAt: time.Now().UTC(), Health: health}
		})
		if err == nil {
			e.monitor(c, id)
			e.startHealthcheck(c)
			return true
		}
		log.Warn("record adopted container", "err", err)
	}
	log.Info("shut down the shim of a container that is not running", "shim", pid)
	e.endShim(ctx, id, pid)
	e.runtimeDelete(id, c.runtimeName())
	os.Remove(sock)
	return false
}

// endShim ends the shim of container id, with its container: by a forced
// shutdown if it answers, else (or if it lingers) by SIGKILL to pid (0:
// no process known). The container's runtime state may be left: callers
// delete it.
func (e *Engine) endShim(ctx context.Context, id string, pid int) {
	if _, err := os.Stat(filepath.Join(e.stateDir(id), shim.SocketName)); err == nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := e.client(id).Shutdown(sctx, true); err != nil {
			e.log.Warn("shut down shim", "container", id, "err", err)
		}
		cancel()
	}
	if pid != 0 && !waitProcessGone(pid, 2*time.Second) {
		e.log.Warn("kill a shim that does not end", "container", id, "shim", pid)
		_ = unix.Kill(pid, unix.SIGKILL)
		waitProcessGone(pid, 5*time.Second)
	}
}

// shimProcesses finds the capsa-shim processes of this engine's
// containers (by their --state-dir under the run root): container ID →
// pid.
func (e *Engine) shimProcesses() map[string]int {
	out := map[string]int{}
	base := filepath.Base(e.cfg.ShimPath)
	prefix := filepath.Join(e.cfg.RunRoot, "containers") + "/"
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) != base {
			continue
		}
		for i, a := range args {
			if a == "--state-dir" && i+1 < len(args) && strings.HasPrefix(args[i+1], prefix) {
				if id := strings.TrimPrefix(args[i+1], prefix); isID(id) {
					out[id] = pid
				}
			}
		}
	}
	return out
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// waitProcessGone waits up to timeout for pid to end.
func waitProcessGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
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
	shims := e.shimProcesses()
	for id := range shims {
		if !known[id] {
			orphans[id] = true
		}
	}
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
		if pid := shims[id]; pid != 0 {
			e.endShim(ctx, id, pid)
		}
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
