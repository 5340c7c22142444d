package cgroup

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

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
	w := func(field, file, v string) error {
		if err := writeFile(d, file, v); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: no %s in cgroup %q: its controller is not enabled on this host", field, file, d)
			}
			return fieldErr(field, err)
		}
		return nil
	}
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
	if r.Pids != nil {
		if err := w("linux.resources.pids.limit", "pids.max", pidsMax(r.Pids)); err != nil {
			return err
		}
	}
	if err := m.v2IO(r.BlockIO, w); err != nil {
		return err
	}
	for i, h := range r.HugepageLimits {
		if err := checkPageSize(h.Pagesize); err != nil {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize: %w", i, err)
		}
		if err := w(fmt.Sprintf("linux.resources.hugepageLimits[%d]", i), "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10)); err != nil {
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

// BlkioWeightToIOWeight converts a v1 blkio weight (10..1000) to a v2
// io.weight (1..10000).
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w < 10 {
		w = 10
	}
	if w > 1000 {
		w = 1000
	}
	return 1 + (uint64(w)-10)*9999/990
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

func (m *manager) v2IO(b *specs.LinuxBlockIO, w func(field, file, v string) error) error {
	if b == nil {
		return nil
	}
	d := m.st.V2
	bfq := exists(d + "/io.bfq.weight")
	if b.Weight != nil {
		file, v := "io.weight", "default "+strconv.FormatUint(BlkioWeightToIOWeight(*b.Weight), 10)
		if bfq {
			// BFQ takes the v1 weight scale as it is.
			file, v = "io.bfq.weight", strconv.Itoa(int(*b.Weight))
		}
		if err := w("linux.resources.blockIO.weight", file, v); err != nil {
			return err
		}
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		dev := devNum(&wd.Major, &wd.Minor)
		file, v := "io.weight", fmt.Sprintf("%s %d", dev, BlkioWeightToIOWeight(*wd.Weight))
		if bfq {
			file, v = "io.bfq.weight", fmt.Sprintf("%s %d", dev, *wd.Weight)
		}
		if err := w(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i), file, v); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		devs  []specs.LinuxThrottleDevice
		key   string
		field string
	}{
		{b.ThrottleReadBpsDevice, "rbps", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "wbps", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "riops", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "wiops", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.devs {
			rate := "max"
			if td.Rate != 0 {
				rate = strconv.FormatUint(td.Rate, 10)
			}
			line := fmt.Sprintf("%s %s=%s", devNum(&td.Major, &td.Minor), t.key, rate)
			if err := w(fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i), "io.max", line); err != nil {
				return err
			}
		}
	}
	return nil
}
