package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/rootfs"
)

// Delete removes a stopped (or created) container: it kills what is left
// in its cgroup, removes the cgroup and the state directory, and runs the
// poststop hooks. With force it first kills a running or paused container.
func (c *Container) Delete(ctx context.Context, force bool) error {
	st := c.Status()
	if err := check(c.id, st, OpDelete); err != nil && !force {
		return err
	}
	return c.destroy(ctx)
}

// destroy tears the container down whatever its state.
func (c *Container) destroy(ctx context.Context) error {
	var errs []error
	m, cgErr := c.cgroup()
	if c.initAlive() {
		if m != nil {
			_ = m.Kill(unix.SIGKILL)
			if fs, err := m.FreezerState(); err == nil && fs != cgroup.Thawed {
				_ = m.Thaw(ctx)
			}
		}
		_ = c.signalInit(unix.SIGKILL)
		c.waitInitGone(ctx, 10*time.Second)
	}
	if cgErr != nil {
		errs = append(errs, cgErr)
	} else {
		// With a shared PID namespace, processes besides init may remain.
		_ = m.Kill(unix.SIGKILL)
		if err := m.Destroy(ctx); err != nil {
			errs = append(errs, fmt.Errorf("container %q: remove cgroup: %w", c.id, err))
		}
	}
	if err := rootfs.Unmount(c.state.Config, c.state.RootfsMount); err != nil {
		errs = append(errs, fmt.Errorf("container %q: %w", c.id, err))
	}
	runHooksWarn(ctx, "poststop", c.id, c.state.Config.Hooks.Poststop, specState(c, string(Stopped), 0))
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("container %q: remove state: %w", c.id, err))
	}
	return errors.Join(errs...)
}

// waitInitGone waits until the init process has exited (it may stay a
// zombie until its parent reaps it: that counts as gone).
func (c *Container) waitInitGone(ctx context.Context, limit time.Duration) {
	pidfd, err := unix.PidfdOpen(c.state.InitPid, 0)
	if err == nil {
		defer unix.Close(pidfd)
		if !c.initAlive() {
			return
		}
		// A pidfd becomes readable when the process exits.
		pfd := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, int(limit/time.Millisecond))
		return
	}
	deadline := time.Now().Add(limit)
	for c.initAlive() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}
