package runtime

import (
	"context"
	"fmt"

	"github.com/capsa-dev/capsa/internal/cgroup"
)

// Stats returns the container's resource usage from its cgroup.
func (c *Container) Stats() (*cgroup.Stats, error) {
	if err := check(c.id, c.Status(), OpEvents); err != nil {
		return nil, err
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	s, err := m.Stats()
	if err != nil {
		return nil, fmt.Errorf("container %q: stats: %w", c.id, err)
	}
	return s, nil
}

// OOMEvents delivers a value each time the kernel's OOM killer kills a
// process of the container, until ctx ends.
func (c *Container) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	if err := check(c.id, c.Status(), OpEvents); err != nil {
		return nil, err
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return m.OOMEvents(ctx)
}

// Running reports whether the container's init still runs.
func (c *Container) Running() bool { return c.initAlive() }
