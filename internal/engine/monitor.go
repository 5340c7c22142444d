package engine

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/capsa-dev/capsa/internal/shim"
)

// monitor waits, in a goroutine that lives while the engine is open, for
// the running container id to exit; then it ends the shim (which deletes
// the container from the runtime), records the exit, and applies the
// container's AutoRemove or restart policy.
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
		// The kernel's count of OOM kills goes with the cgroup, which
		// the shim's shutdown deletes: read it first.
		oom := oomKilled(id)
		if err != nil {
			// The shim is gone: its exit record, if it wrote one, tells.
			if ex, rerr := shim.ReadExit(e.stateDir(id)); rerr == nil {
				code, at = ex.ExitCode, ex.ExitedAt
			} else {
				code, at, msg = 255, time.Now().UTC(), "shim gone without an exit record: "+err.Error()
			}
			e.runtimeDelete(id, c.runtimeName())
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := cl.Shutdown(ctx, false); err != nil {
				e.log.Debug("shut down shim", "container", id, "err", err)
			}
			cancel()
		}
		done()
		e.stopHealthcheck(c)
		if oom {
			e.emit(Event{Type: "container", Action: "oom", ID: id})
		}
		e.recordExitOOM(c, code, at, msg, oom)
		e.afterExit(c, code)
	}()
}

// recordExit moves a running container to exited with code.
func (e *Engine) recordExit(c *Container, code int, at time.Time, msg string) {
	e.recordExitOOM(c, code, at, msg, false)
}

func (e *Engine) recordExitOOM(c *Container, code int, at time.Time, msg string, oom bool) {
	if at.IsZero() {
		at = time.Now().UTC()
	}
	e.releaseNetwork(context.Background(), c)
	err := e.setStateAnd(c, StatusExited, func(s *State) {
		c.exits++
		s.Pid, s.ShimPid, s.ExitCode, s.FinishedAt, s.Error, s.OOMKilled = 0, 0, code, at, msg, oom
		if s.Health != nil {
			s.Health.Status = HealthUnhealthy
		}
	}, func() {
		e.emitLocked(c, Event{Type: "container", Action: "die", ID: c.rec.ID, Attributes: map[string]string{"exitCode": strconv.Itoa(code)}})
	})
	if err != nil {
		e.log.Warn("record exit", "container", c.rec.ID, "err", err)
	}
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// container id's memory cgroup (v1 memory.oom_control or v2
// memory.events, "oom_kill N").
func oomKilled(id string) bool {
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/memory/capsa", id, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup/capsa", id, "memory.events"),
		filepath.Join("/sys/fs/cgroup/unified/capsa", id, "memory.events"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := bytes.Fields(sc.Bytes())
			if len(f) == 2 && string(f[0]) == "oom_kill" && string(f[1]) != "0" {
				return true
			}
		}
	}
	return false
}
