package cgroup

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is a cgroup's resource usage, in the JSON shape runc's
// `events --stats` prints, so that tools reading runc's output read ours.
type Stats struct {
	CPU     CPUStats           `json:"cpu"`
	Memory  MemoryStats        `json:"memory"`
	Pids    PidsStats          `json:"pids"`
	Blkio   BlkioStats         `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb,omitempty"`
}

// CPUStats is CPU time (nanoseconds) and CFS throttling.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage"`
	Throttling Throttling `json:"throttling"`
}

// CPUUsage is CPU time in nanoseconds.
type CPUUsage struct {
	Total  uint64   `json:"total,omitempty"`
	Percpu []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

// Throttling counts CFS periods and the time spent throttled.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// MemoryStats is memory usage in bytes.
type MemoryStats struct {
	Cache uint64            `json:"cache,omitempty"`
	Usage MemoryEntry       `json:"usage"`
	Swap  MemoryEntry       `json:"swap"`
	Raw   map[string]uint64 `json:"raw,omitempty"`
}

// MemoryEntry is a usage figure with its limit and failure count.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// PidsStats is the number of tasks and its limit (0: none).
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioStats is I/O per device.
type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
}

// BlkioEntry is one device's count for one operation.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// Hugetlb is one page size's usage.
type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Stats reads the usage figures of every controller the cgroup has.
// A controller the host lacks leaves its part zero.
func (m *manager) Stats() (*Stats, error) {
	s := &Stats{}
	if m.st.V2Controllers {
		return s, m.statsV2(s)
	}
	return s, m.statsV1(s)
}

// noLimit turns the kernel's "no limit" values into 0, as runc reports.
func noLimit(v uint64) uint64 {
	// v1 reports an unlimited memory limit as the page-rounded maximum
	// of a signed 64-bit value.
	if v >= 1<<62 {
		return 0
	}
	return v
}

func (m *manager) statsV1(s *Stats) error {
	ok := func(err error) bool { return err == nil }
	if d := m.st.V1["cpuacct"]; d != "" {
		s.CPU.Usage.Total, _ = readUint(d, "cpuacct.usage")
		if pc, err := readFile(d, "cpuacct.usage_percpu"); ok(err) {
			for _, f := range strings.Fields(pc) {
				v, _ := strconv.ParseUint(f, 10, 64)
				s.CPU.Usage.Percpu = append(s.CPU.Usage.Percpu, v)
			}
		}
		if st, err := readUintMap(d, "cpuacct.stat"); ok(err) {
			// USER_HZ ticks; 100 per second on every Linux ABI.
			s.CPU.Usage.User = st["user"] * 10_000_000
			s.CPU.Usage.Kernel = st["system"] * 10_000_000
		}
	}
	if d := m.st.V1["cpu"]; d != "" {
		if st, err := readUintMap(d, "cpu.stat"); ok(err) {
			s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_time"]}
		}
	}
	if d := m.st.V1["memory"]; d != "" {
		entry := func(prefix string) MemoryEntry {
			var e MemoryEntry
			e.Usage, _ = readUint(d, prefix+"usage_in_bytes")
			e.Max, _ = readUint(d, prefix+"max_usage_in_bytes")
			lim, _ := readUint(d, prefix+"limit_in_bytes")
			e.Limit = noLimit(lim)
			e.Failcnt, _ = readUint(d, prefix+"failcnt")
			return e
		}
		s.Memory.Usage = entry("memory.")
		if exists(filepath.Join(d, "memory.memsw.usage_in_bytes")) {
			s.Memory.Swap = entry("memory.memsw.")
		}
		if raw, err := readUintMap(d, "memory.stat"); ok(err) {
			s.Memory.Raw = raw
			s.Memory.Cache = raw["total_cache"]
		}
	}
	if d := m.st.V1["pids"]; d != "" {
		s.Pids.Current, _ = readUint(d, "pids.current")
		lim, _ := readUint(d, "pids.max")
		s.Pids.Limit = noLimit(lim)
	}
	if d := m.st.V1["blkio"]; d != "" {
		s.Blkio.IoServiceBytesRecursive = readBlkio(d, "blkio.throttle.io_service_bytes_recursive")
		s.Blkio.IoServicedRecursive = readBlkio(d, "blkio.throttle.io_serviced_recursive")
	}
	return nil
}

// readBlkio parses "8:0 Read 4096" lines.
func readBlkio(dir, file string) []BlkioEntry {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []BlkioEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(fs[0], ":")
		if !ok {
			continue
		}
		e := BlkioEntry{Op: fs[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(fs[2], 10, 64)
		out = append(out, e)
	}
	return out
}

func (m *manager) statsV2(s *Stats) error {
	d := m.st.V2
	if st, err := readUintMap(d, "cpu.stat"); err == nil {
		s.CPU.Usage.Total = st["usage_usec"] * 1000
		s.CPU.Usage.User = st["user_usec"] * 1000
		s.CPU.Usage.Kernel = st["system_usec"] * 1000
		s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_usec"] * 1000}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.Memory.Usage.Usage, _ = readUint(d, "memory.current")
	s.Memory.Usage.Max, _ = readUint(d, "memory.peak")
	lim, _ := readUint(d, "memory.max")
	s.Memory.Usage.Limit = noLimit(lim)
	if ev, err := readUintMap(d, "memory.events"); err == nil {
		s.Memory.Usage.Failcnt = ev["max"]
	}
	s.Memory.Swap.Usage, _ = readUint(d, "memory.swap.current")
	swl, _ := readUint(d, "memory.swap.max")
	s.Memory.Swap.Limit = noLimit(swl)
	if raw, err := readUintMap(d, "memory.stat"); err == nil {
		s.Memory.Raw = raw
		s.Memory.Cache = raw["file"]
	}
	s.Pids.Current, _ = readUint(d, "pids.current")
	pl, _ := readUint(d, "pids.max")
	s.Pids.Limit = noLimit(pl)
	if f, err := os.Open(filepath.Join(d, "io.stat")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// 8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0
			fs := strings.Fields(sc.Text())
			if len(fs) < 2 {
				continue
			}
			maj, min, _ := strings.Cut(fs[0], ":")
			ma, _ := strconv.ParseUint(maj, 10, 64)
			mi, _ := strconv.ParseUint(min, 10, 64)
			for _, kv := range fs[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes", "wbytes":
					op := map[string]string{"rbytes": "Read", "wbytes": "Write"}[k]
					s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, BlkioEntry{Major: ma, Minor: mi, Op: op, Value: n})
				case "rios", "wios":
					op := map[string]string{"rios": "Read", "wios": "Write"}[k]
					s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, BlkioEntry{Major: ma, Minor: mi, Op: op, Value: n})
				}
			}
		}
	}
	return nil
}
