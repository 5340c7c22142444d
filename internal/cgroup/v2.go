package cgroup

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/cgroup/devices"
)

// checkV2 refuses the v1-only limits on a unified host.
func checkV2(r *specs.LinuxResources) error {
	if mem := r.Memory; mem != nil {
		if mem.KernelTCP != nil {
			return errors.New("linux.resources.memory.kernelTCP: cgroup v2 has no kernel TCP memory limit")
		}
		if mem.Swappiness != nil && int64(*mem.Swappiness) >= 0 {
			return errors.New("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness")
		}
		if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
			return errors.New("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
		}
		if mem.Swap != nil && *mem.Swap >= 0 && (mem.Limit == nil || *mem.Limit < 0) {
			return errors.New("linux.resources.memory.swap: on cgroup v2 a swap limit needs memory.limit too (swap is memory+swap)")
		}
		if mem.Swap != nil && mem.Limit != nil && *mem.Swap >= 0 && *mem.Swap < *mem.Limit {
			return fmt.Errorf("linux.resources.memory.swap %d: below memory.limit %d (swap is memory+swap)", *mem.Swap, *mem.Limit)
		}
	}
	if c := r.CPU; c != nil && (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 || c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
		return errors.New("linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime group scheduling")
	}
	if b := r.BlockIO; b != nil && b.LeafWeight != nil {
		return errors.New("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weight")
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return errors.New("linux.resources.network: cgroup v2 has no net_cls/net_prio controllers")
	}
	for k := range r.Unified {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
	}
	if len(r.Devices) > 0 {
		if _, err := devices.Compile(r.Devices); err != nil {
			return err
		}
	}
	return nil
}

// setV2 writes r through the v2 controllers, converted as doc.go's table
// says.
func (m *manager) setV2(r *specs.LinuxResources) error {
	d := m.st.V2
	var w v2Writer = func(field, file, v string) error {
		if err := writeFile(d, file, v); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: no %s in cgroup %q: its controller is not enabled on this host", field, file, d)
			}
			return fieldErr(field, err)
		}
		return nil
	}
	for _, set := range []func(*specs.LinuxResources, v2Writer) error{
		m.v2Memory, m.v2CPU, m.v2Pids, m.v2IO, m.v2Hugetlb,
	} {
		if err := set(r, w); err != nil {
			return err
		}
	}
	if err := setRdma(d, r.Rdma); err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		// v2 has no devices controller: an eBPF program attached to the
		// cgroup decides each open and mknod.
		p, err := devices.Compile(r.Devices)
		if err != nil {
			return err
		}
		if err := p.Attach(d); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	return m.setUnified(r.Unified)
}

// v2Writer writes one interface file of the cgroup, naming field in errors.
type v2Writer func(field, file, v string) error
