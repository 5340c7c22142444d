package runtime

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (c *Container) Kill(ctx context.Context, sig unix.Signal, all bool) error {
	st := c.Status()
	if err := check(c.id, st, OpKill); err != nil {
		if !(all && st == Stopped) {
			return err
		}
	}
	if all {
		m, err := c.cgroup()
		if err != nil {
			return err
		}
		if err := m.Kill(sig); err != nil {
			return fmt.Errorf("container %q: kill all processes: %w", c.id, err)
		}
	} else if err := c.signalInit(sig); err != nil {
		return err
	}
	// Frozen processes do not die until thawed.
	if st == Paused && sig == unix.SIGKILL {
		if m, err := c.cgroup(); err == nil {
			_ = m.Thaw(ctx)
		}
	}
	return nil
}
