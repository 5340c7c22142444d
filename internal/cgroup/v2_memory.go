package cgroup

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Memory writes memory.max, memory.swap.max (swap-only: the spec gives memory+swap) and memory.low.
func (m *manager) v2Memory(r *specs.LinuxResources, w v2Writer) error {
	d := m.st.V2
	if mem := r.Memory; mem != nil {
		if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
			if usage, err := readUint(d, "memory.current"); err == nil && usage > uint64(*mem.Limit) {
				return fmt.Errorf("linux.resources.memory.limit %d: below the current usage %d", *mem.Limit, usage)
			}
		}
		if mem.Limit != nil {
			if err := w("linux.resources.memory.limit", "memory.max", limitString(*mem.Limit, "max")); err != nil {
				return err
			}
		}
		if mem.Swap != nil {
			swap := "max"
			if *mem.Swap >= 0 {
				swap = strconv.FormatInt(*mem.Swap-*mem.Limit, 10)
			}
			if err := w("linux.resources.memory.swap", "memory.swap.max", swap); err != nil {
				return err
			}
		}
		if mem.Reservation != nil {
			if err := w("linux.resources.memory.reservation", "memory.low", limitString(*mem.Reservation, "max")); err != nil {
				return err
			}
		}
	}
	return nil
}
