package cgroup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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

func (m *manager) v1Blkio(r *specs.LinuxResources) error {
	b, d := r.BlockIO, m.st.V1["blkio"]
	if b == nil || d == "" {
		return nil
	}
	// With the BFQ scheduler the weight files carry its prefix.
	weight := firstExisting(d, "blkio.weight", "blkio.bfq.weight")
	weightDev := firstExisting(d, "blkio.weight_device", "blkio.bfq.weight_device")
	if b.Weight != nil {
		if weight == "" {
			return fmt.Errorf("linux.resources.blockIO.weight: the blkio controller here has no weight file (no CFQ or BFQ I/O scheduler)")
		}
		if err := writeFile(d, weight, strconv.Itoa(int(*b.Weight))); err != nil {
			return fieldErr("linux.resources.blockIO.weight", err)
		}
	}
	hasLeaf := exists(d + "/blkio.leaf_weight")
	noLeaf := errors.New("this kernel's blkio controller has no leaf weight (CFQ, its only user, was removed in Linux 5.0)")
	if b.LeafWeight != nil {
		if !hasLeaf {
			return fmt.Errorf("linux.resources.blockIO.leafWeight: %w", noLeaf)
		}
		if err := writeFile(d, "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight))); err != nil {
			return fieldErr("linux.resources.blockIO.leafWeight", err)
		}
	}
	for i, wd := range b.WeightDevice {
		dev := devNum(&wd.Major, &wd.Minor)
		if wd.Weight != nil {
			if weightDev == "" {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d]: the blkio controller here has no weight_device file", i)
			}
			if err := writeFile(d, weightDev, fmt.Sprintf("%s %d", dev, *wd.Weight)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i), err)
			}
		}
		if wd.LeafWeight != nil {
			if !hasLeaf {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].leafWeight: %w", i, noLeaf)
			}
			if err := writeFile(d, "blkio.leaf_weight_device", fmt.Sprintf("%s %d", dev, *wd.LeafWeight)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.weightDevice[%d].leafWeight", i), err)
			}
		}
	}
	for _, t := range []struct {
		devs  []specs.LinuxThrottleDevice
		file  string
		field string
	}{
		{b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", "throttleReadBpsDevice"},
		{b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", "throttleWriteBpsDevice"},
		{b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", "throttleReadIOPSDevice"},
		{b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", "throttleWriteIOPSDevice"},
	} {
		for i, td := range t.devs {
			if err := writeFile(d, t.file, fmt.Sprintf("%s %d", devNum(&td.Major, &td.Minor), td.Rate)); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.blockIO.%s[%d]", t.field, i), err)
			}
		}
	}
	return nil
}

func (m *manager) v1Hugetlb(r *specs.LinuxResources) error {
	d := m.st.V1["hugetlb"]
	for i, h := range r.HugepageLimits {
		if err := checkPageSize(h.Pagesize); err != nil {
			return fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize: %w", i, err)
		}
		if err := writeFile(d, "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10)); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.hugepageLimits[%d]", i), err)
		}
	}
	return nil
}

// checkPageSize accepts hugetlb page size names like "2MB" or "1GB".
func checkPageSize(s string) error {
	n := strings.TrimRight(s, "KMGB")
	if n == "" || n == s || strings.ContainsAny(n, "/.") {
		return fmt.Errorf("%q is not a page size like 2MB", s)
	}
	if _, err := strconv.ParseUint(n, 10, 32); err != nil {
		return fmt.Errorf("%q is not a page size like 2MB", s)
	}
	return nil
}

func (m *manager) v1Network(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		if err := writeFile(m.st.V1["net_cls"], "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return fieldErr("linux.resources.network.classID", err)
		}
	}
	for i, p := range n.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \n/") {
			return fmt.Errorf("linux.resources.network.priorities[%d].name %q: not an interface name", i, p.Name)
		}
		if err := writeFile(m.st.V1["net_prio"], "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.network.priorities[%d]", i), err)
		}
	}
	return nil
}

func (m *manager) v1Rdma(r *specs.LinuxResources) error {
	return setRdma(m.st.V1["rdma"], r.Rdma)
}

func setRdma(d string, rdma map[string]specs.LinuxRdma) error {
	for dev, l := range rdma {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("linux.resources.rdma[%q]: not a device name", dev)
		}
		line := dev
		if l.HcaHandles != nil {
			line += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			line += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		if err := writeFile(d, "rdma.max", line); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.rdma[%q]", dev), err)
		}
	}
	return nil
}

func (m *manager) v1Devices(r *specs.LinuxResources) error {
	d := m.st.V1["devices"]
	if len(r.Devices) == 0 || d == "" {
		return nil
	}
	for i, dev := range r.Devices {
		line, err := deviceRule(dev)
		if err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		file := "devices.deny"
		if dev.Allow {
			file = "devices.allow"
		}
		if err := writeFile(d, file, line); err != nil {
			return fieldErr(fmt.Sprintf("linux.resources.devices[%d]", i), err)
		}
	}
	return nil
}

// deviceRule renders a device cgroup rule as v1 takes it: "c 1:3 rwm".
func deviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	t := d.Type
	switch t {
	case "", "a":
		t = "a"
	case "c", "b":
	default:
		return "", fmt.Errorf("type %q: must be a, b or c", d.Type)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		if c != 'r' && c != 'w' && c != 'm' {
			return "", fmt.Errorf("access %q: must be made of r, w and m", d.Access)
		}
	}
	if t == "a" {
		return "a *:* " + access, nil
	}
	return t + " " + devNum(d.Major, d.Minor) + " " + access, nil
}
