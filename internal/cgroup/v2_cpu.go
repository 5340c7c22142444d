package cgroup

import (
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2CPU writes cpu.weight, cpu.max, cpu.max.burst, cpu.idle and the cpuset.
func (m *manager) v2CPU(r *specs.LinuxResources, w v2Writer) error {
	d := m.st.V2
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := w("linux.resources.cpu.shares", "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10)); err != nil {
				return err
			}
		}
		if c.Quota != nil || c.Period != nil {
			if err := w("linux.resources.cpu.quota", "cpu.max", cpuMax(c, d)); err != nil {
				return err
			}
		}
		if c.Burst != nil {
			if err := w("linux.resources.cpu.burst", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
		if c.Idle != nil {
			if err := w("linux.resources.cpu.idle", "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := w("linux.resources.cpu.cpus", "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := w("linux.resources.cpu.mems", "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	return nil
}

// SharesToWeight converts v1 cpu.shares (2..262144) to v2 cpu.weight
// (1..10000), linearly, as runc and crun do.
func SharesToWeight(shares uint64) uint64 {
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + (shares-2)*9999/262142
}

// cpuMax renders cpu.max from quota and period, keeping the current
// period when only the quota changes.
func cpuMax(c *specs.LinuxCPU, dir string) string {
	quota := "max"
	period := "100000"
	if cur, err := readFile(dir, "cpu.max"); err == nil {
		if f := strings.Fields(cur); len(f) == 2 {
			quota, period = f[0], f[1]
		}
	}
	if c.Quota != nil {
		quota = limitString(*c.Quota, "max")
	}
	if c.Period != nil && *c.Period != 0 {
		period = strconv.FormatUint(*c.Period, 10)
	}
	return quota + " " + period
}
