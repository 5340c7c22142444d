package cgroup

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1CPU(r *specs.LinuxResources) error {
	c, d := r.CPU, m.st.V1["cpu"]
	if c == nil || d == "" {
		return nil
	}
	u64 := func(p *uint64) string { return strconv.FormatUint(*p, 10) }
	i64 := func(p *int64) string { return strconv.FormatInt(*p, 10) }
	type w struct {
		set   bool
		file  string
		val   func() string
		field string
	}
	for _, x := range []w{
		{c.Shares != nil, "cpu.shares", func() string { return u64(c.Shares) }, "shares"},
		{c.Period != nil, "cpu.cfs_period_us", func() string { return u64(c.Period) }, "period"},
		{c.Quota != nil, "cpu.cfs_quota_us", func() string { return i64(c.Quota) }, "quota"},
		{c.Burst != nil, "cpu.cfs_burst_us", func() string { return u64(c.Burst) }, "burst"},
		// The RT period is set before the runtime, which must fit in it.
		{c.RealtimePeriod != nil, "cpu.rt_period_us", func() string { return u64(c.RealtimePeriod) }, "realtimePeriod"},
		{c.RealtimeRuntime != nil, "cpu.rt_runtime_us", func() string { return i64(c.RealtimeRuntime) }, "realtimeRuntime"},
		{c.Idle != nil, "cpu.idle", func() string { return i64(c.Idle) }, "idle"},
	} {
		if x.set {
			if err := writeFile(d, x.file, x.val()); err != nil {
				return fieldErr("linux.resources.cpu."+x.field, err)
			}
		}
	}
	return nil
}

func (m *manager) v1Cpuset(r *specs.LinuxResources) error {
	c, d := r.CPU, m.st.V1["cpuset"]
	if c == nil || d == "" {
		return nil
	}
	if c.Cpus != "" {
		if err := writeFile(d, "cpuset.cpus", c.Cpus); err != nil {
			return fieldErr("linux.resources.cpu.cpus", err)
		}
	}
	if c.Mems != "" {
		if err := writeFile(d, "cpuset.mems", c.Mems); err != nil {
			return fieldErr("linux.resources.cpu.mems", err)
		}
	}
	return nil
}
