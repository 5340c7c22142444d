package cgroup

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) v1Memory(r *specs.LinuxResources) error {
	mem, d := r.Memory, m.st.V1["memory"]
	if mem == nil || d == "" {
		return nil
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		if usage, err := readUint(d, "memory.usage_in_bytes"); err == nil && usage > uint64(*mem.Limit) {
			return fmt.Errorf("linux.resources.memory.limit %d: below the current usage %d", *mem.Limit, usage)
		}
	}
	if mem.UseHierarchy != nil {
		v := "0"
		if *mem.UseHierarchy {
			v = "1"
		}
		if err := writeFile(d, "memory.use_hierarchy", v); err != nil {
			return fieldErr("linux.resources.memory.useHierarchy", err)
		}
	}
	// memory.memsw.limit_in_bytes (memory+swap) may never be below
	// memory.limit_in_bytes: when the limits grow, raise memsw first.
	setLimit := func() error {
		if mem.Limit == nil {
			return nil
		}
		return fieldErr("linux.resources.memory.limit", writeFile(d, "memory.limit_in_bytes", limitString(*mem.Limit, "-1")))
	}
	setSwap := func() error {
		if mem.Swap == nil {
			return nil
		}
		if !exists(d + "/memory.memsw.limit_in_bytes") {
			return fmt.Errorf("linux.resources.memory.swap: this host's kernel does not account swap (no memory.memsw files; boot with swapaccount=1)")
		}
		return fieldErr("linux.resources.memory.swap", writeFile(d, "memory.memsw.limit_in_bytes", limitString(*mem.Swap, "-1")))
	}
	swapFirst := false
	if mem.Swap != nil {
		cur, err := readUint(d, "memory.memsw.limit_in_bytes")
		swapFirst = err == nil && (*mem.Swap < 0 || mem.Limit != nil && (*mem.Limit < 0 || uint64(*mem.Limit) > cur))
	}
	order := []func() error{setLimit, setSwap}
	if swapFirst {
		order = []func() error{setSwap, setLimit}
	}
	for _, f := range order {
		if err := f(); err != nil {
			return err
		}
	}
	if mem.Reservation != nil {
		if err := writeFile(d, "memory.soft_limit_in_bytes", limitString(*mem.Reservation, "-1")); err != nil {
			return fieldErr("linux.resources.memory.reservation", err)
		}
	}
	if mem.KernelTCP != nil {
		if err := writeFile(d, "memory.kmem.tcp.limit_in_bytes", limitString(*mem.KernelTCP, "-1")); err != nil {
			return fieldErr("linux.resources.memory.kernelTCP", err)
		}
	}
	if mem.Swappiness != nil && int64(*mem.Swappiness) >= 0 {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("linux.resources.memory.swappiness %d: must be 0 to 100", *mem.Swappiness)
		}
		if err := writeFile(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return fieldErr("linux.resources.memory.swappiness", err)
		}
	}
	if mem.DisableOOMKiller != nil {
		v := "0"
		if *mem.DisableOOMKiller {
			v = "1"
		}
		if err := writeFile(d, "memory.oom_control", v); err != nil {
			return fieldErr("linux.resources.memory.disableOOMKiller", err)
		}
	}
	return nil
}
