package cgroup

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setV1 writes r through the v1 controllers; check has made sure each
// needed controller exists.
func (m *manager) setV1(r *specs.LinuxResources) error {
	for _, set := range []func(*specs.LinuxResources) error{
		m.v1Memory, m.v1CPU, m.v1Cpuset, m.v1Pids, m.v1Blkio, m.v1Hugetlb, m.v1Network, m.v1Rdma, m.v1Devices,
	} {
		if err := set(r); err != nil {
			return err
		}
	}
	return nil
}
