package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// controllersFor lists the v1 controllers r needs, each with the
// config.json field that needs it.
func controllersFor(r *specs.LinuxResources) map[string]string {
	need := map[string]string{}
	if mem := r.Memory; mem != nil && (mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil ||
		mem.KernelTCP != nil || mem.Swappiness != nil || mem.DisableOOMKiller != nil || mem.UseHierarchy != nil) {
		need["memory"] = "linux.resources.memory"
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
			c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil {
			need["cpu"] = "linux.resources.cpu"
		}
		if c.Cpus != "" || c.Mems != "" {
			need["cpuset"] = "linux.resources.cpu.cpus/mems"
		}
	}
	if r.Pids != nil {
		need["pids"] = "linux.resources.pids"
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil || b.LeafWeight != nil || len(b.WeightDevice) > 0 ||
		len(b.ThrottleReadBpsDevice) > 0 || len(b.ThrottleWriteBpsDevice) > 0 ||
		len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		need["blkio"] = "linux.resources.blockIO"
	}
	if len(r.HugepageLimits) > 0 {
		need["hugetlb"] = "linux.resources.hugepageLimits"
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			need["net_cls"] = "linux.resources.network.classID"
		}
		if len(n.Priorities) > 0 {
			need["net_prio"] = "linux.resources.network.priorities"
		}
	}
	if len(r.Rdma) > 0 {
		need["rdma"] = "linux.resources.rdma"
	}
	if len(r.Devices) > 0 {
		need["devices"] = "linux.resources.devices"
	}
	return need
}

// check refuses limits this host has no controller for, before anything
// is created or written: a limit that is silently not enforced is worse
// than an error.
func (m *manager) check(r *specs.LinuxResources) error {
	if m.st.V2Controllers {
		return checkV2(r)
	}
	need := controllersFor(r)
	names := make([]string, 0, len(need))
	for c := range need {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if _, ok := m.st.V1[c]; !ok {
			return fmt.Errorf("%s: this host has no %s cgroup controller mounted", need[c], c)
		}
	}
	for k := range r.Unified {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
		if m.st.V2 == "" {
			return fmt.Errorf("linux.resources.unified[%q]: this host has no cgroup v2 hierarchy", k)
		}
	}
	return nil
}

func checkUnifiedKey(k string) error {
	if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." || !strings.Contains(k, ".") {
		return fmt.Errorf("linux.resources.unified[%q]: not a cgroup interface file name", k)
	}
	switch k {
	case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze", "cgroup.type":
		return fmt.Errorf("linux.resources.unified[%q]: the runtime manages this file itself", k)
	}
	return nil
}

// Set applies r's fields to the cgroup.
func (m *manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.check(r); err != nil {
		return err
	}
	if m.st.V2Controllers {
		return m.setV2(r)
	}
	if err := m.setV1(r); err != nil {
		return err
	}
	return m.setUnified(r.Unified)
}

func (m *manager) setUnified(u map[string]string) error {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := writeFile(m.st.V2, k, u[k]); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("linux.resources.unified[%q]: no such file in cgroup %q: is its controller enabled?", k, m.st.V2)
			}
			return fmt.Errorf("linux.resources.unified[%q]: %w", k, err)
		}
	}
	return nil
}

// deviceLine is "maj:min" with '*' for a wildcard (-1 or unset).
func devNum(major, minor *int64) string {
	f := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	return f(major) + ":" + f(minor)
}

// limitString renders a memory-style limit: negative means no limit.
func limitString(v int64, unlimited string) string {
	if v < 0 {
		return unlimited
	}
	return strconv.FormatInt(v, 10)
}

// fieldErr wraps a write error with the config.json field it came from.
func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

// firstExisting returns the first of files that exists in dir, or "".
func firstExisting(dir string, files ...string) string {
	for _, f := range files {
		if exists(filepath.Join(dir, f)) {
			return f
		}
	}
	return ""
}
