package runtime

import "fmt"

// Pids lists the pids (in the runtime's PID namespace) of every process
// in the container's cgroup.
func (c *Container) Pids() ([]int, error) {
	if err := check(c.id, c.Status(), OpPs); err != nil {
		return nil, err
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	pids, err := m.Procs()
	if err != nil {
		return nil, fmt.Errorf("container %q: list processes: %w", c.id, err)
	}
	return pids, nil
}
