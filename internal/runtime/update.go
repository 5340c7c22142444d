package runtime

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the resource limits of a created, running or paused
// container. r holds only the fields to change; they are merged into the
// container's resources, applied, and recorded.
func (c *Container) Update(ctx context.Context, r *specs.LinuxResources) error {
	if err := check(c.id, c.Status(), OpUpdate); err != nil {
		return err
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Set(r); err != nil {
		return fmt.Errorf("container %q: update: %w", c.id, err)
	}
	c.state.Config.Resources = mergeResources(c.state.Config.Resources, r)
	return c.saveState()
}

// mergeResources overlays the set fields of upd on cur.
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	if cur == nil {
		return upd
	}
	out := *cur
	if upd.Memory != nil {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		m := *out.Memory
		u := upd.Memory
		setIf(&m.Limit, u.Limit)
		setIf(&m.Reservation, u.Reservation)
		setIf(&m.Swap, u.Swap)
		//lint:ignore SA1019 kept in the state as given; the cgroup package ignores it (doc.go).
		setIf(&m.Kernel, u.Kernel)
		setIf(&m.KernelTCP, u.KernelTCP)
		setIf(&m.Swappiness, u.Swappiness)
		setIf(&m.DisableOOMKiller, u.DisableOOMKiller)
		setIf(&m.UseHierarchy, u.UseHierarchy)
		setIf(&m.CheckBeforeUpdate, u.CheckBeforeUpdate)
		out.Memory = &m
	}
	if upd.CPU != nil {
		if out.CPU == nil {
			out.CPU = &specs.LinuxCPU{}
		}
		cp := *out.CPU
		u := upd.CPU
		setIf(&cp.Shares, u.Shares)
		setIf(&cp.Quota, u.Quota)
		setIf(&cp.Burst, u.Burst)
		setIf(&cp.Period, u.Period)
		setIf(&cp.RealtimeRuntime, u.RealtimeRuntime)
		setIf(&cp.RealtimePeriod, u.RealtimePeriod)
		setIf(&cp.Idle, u.Idle)
		if u.Cpus != "" {
			cp.Cpus = u.Cpus
		}
		if u.Mems != "" {
			cp.Mems = u.Mems
		}
		out.CPU = &cp
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Network != nil {
		out.Network = upd.Network
	}
	if upd.Rdma != nil {
		out.Rdma = upd.Rdma
	}
	if upd.Unified != nil {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		for k, v := range upd.Unified {
			out.Unified[k] = v
		}
	}
	if upd.Devices != nil {
		out.Devices = upd.Devices
	}
	return &out
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}
