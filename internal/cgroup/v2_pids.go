package cgroup

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Pids writes pids.max.
func (m *manager) v2Pids(r *specs.LinuxResources, w v2Writer) error {
	if r.Pids != nil {
		if err := w("linux.resources.pids.limit", "pids.max", pidsMax(r.Pids)); err != nil {
			return err
		}
	}
	return nil
}
