package runtime

import (
	"context"
	"fmt"
)

// Pause freezes every process of the container and waits until the
// freeze is complete.
func (c *Container) Pause(ctx context.Context) error {
	if err := check(c.id, c.Status(), OpPause); err != nil {
		return err
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Freeze(ctx); err != nil {
		return fmt.Errorf("container %q: pause: %w", c.id, err)
	}
	c.state.Status = Paused
	return c.saveState()
}

// Resume thaws a paused container.
func (c *Container) Resume(ctx context.Context) error {
	if err := check(c.id, c.Status(), OpResume); err != nil {
		return err
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Thaw(ctx); err != nil {
		return fmt.Errorf("container %q: resume: %w", c.id, err)
	}
	c.state.Status = Running
	return c.saveState()
}
