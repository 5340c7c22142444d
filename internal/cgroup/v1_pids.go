package cgroup

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Pids(r *specs.LinuxResources) error {
	d := m.st.V1["pids"]
	if r.Pids == nil || d == "" {
		return nil
	}
	return fieldErr("linux.resources.pids.limit", writeFile(d, "pids.max", pidsMax(r.Pids)))
}

// pidsMax renders pids.limit: zero or negative means no limit.
func pidsMax(p *specs.LinuxPids) string {
	if p.Limit == nil || *p.Limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(*p.Limit, 10)
}
