package oci

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// ParseSize parses a size as Docker's -m, --memory-swap and --shm-size
// do (go-units' RAMInBytes): a non-negative decimal number, an optional
// space, and an optional case-insensitive unit b, k, m, g, t or p, the
// last five optionally followed by "b" or "ib"; every unit is a power of
// 1024. "4m", "4MB", "4MiB" and "4 m" are 4 MiB; "1.5g" is 1.5 GiB; "4XB"
// is an error.
func ParseSize(v string) (int64, error) {
	sep := strings.LastIndexAny(v, "0123456789. ")
	if sep == -1 {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	num, sfx := v[:sep+1], v[sep+1:]
	if v[sep] == ' ' {
		num = v[:sep]
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	sfx = strings.ToLower(sfx)
	mul := float64(1)
	switch {
	case sfx == "" || sfx == "b":
	case len(sfx) <= 3:
		i := strings.IndexByte("kmgtp", sfx[0])
		if i < 0 || (len(sfx) == 2 && sfx[1] != 'b') || (len(sfx) == 3 && sfx[1:] != "ib") {
			return 0, fmt.Errorf("invalid suffix %q", sfx)
		}
		mul = math.Pow(1024, float64(i+1))
	default:
		return 0, fmt.Errorf("invalid suffix %q", sfx)
	}
	size := n * mul
	if size >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", v)
	}
	return int64(size), nil
}

// ParseMemory parses a -m/--memory value.
func ParseMemory(v string) (int64, error) {
	n, err := ParseSize(v)
	if err != nil {
		return 0, flagErr("--memory", v, "%v", err)
	}
	return n, nil
}

// ParseMemorySwap parses a --memory-swap value: a size, or -1 for
// unlimited swap.
func ParseMemorySwap(v string) (int64, error) {
	if v == "-1" {
		return -1, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, flagErr("--memory-swap", v, "%v", err)
	}
	return n, nil
}

// minMemory is Docker's smallest memory limit.
const minMemory = 6 << 20

func memory(s *specs.Spec) *specs.LinuxMemory {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	if s.Linux.Resources.Memory == nil {
		s.Linux.Resources.Memory = &specs.LinuxMemory{}
	}
	return s.Linux.Resources.Memory
}

// WithMemoryLimit limits memory to n bytes (-m); 0 is no limit. Without
// --memory-swap the container may use as much swap again: memory+swap is
// twice n, as in Docker.
func WithMemoryLimit(n int64) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if n == 0 {
			return nil
		}
		if n < 0 {
			return flagErr("--memory", strconv.FormatInt(n, 10), "must not be negative")
		}
		if n < minMemory {
			return flagErr("--memory", strconv.FormatInt(n, 10), "minimum memory limit allowed is 6MB")
		}
		m := memory(s)
		m.Limit = &n
		if fromContext(ctx) == nil && m.Swap == nil {
			// Inside Generate, checkMemory fills the default in.
			swap := 2 * n
			m.Swap = &swap
		}
		return nil
	}
}

// WithMemorySwap sets memory plus swap (--memory-swap) to n bytes; -1
// is unlimited swap, 0 leaves Docker's default (twice the memory).
func WithMemorySwap(n int64) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if n == 0 {
			return nil
		}
		if n < -1 {
			return flagErr("--memory-swap", strconv.FormatInt(n, 10), "must be a size or -1")
		}
		memory(s).Swap = &n
		return nil
	}
}

// checkMemory makes Docker's checks of --memory-swap against --memory
// once both are final, and gives a memory limit without --memory-swap
// its default swap.
func checkMemory(s *specs.Spec) error {
	if s.Linux.Resources == nil || s.Linux.Resources.Memory == nil {
		return nil
	}
	m := s.Linux.Resources.Memory
	if m.Swap == nil {
		if m.Limit != nil && *m.Limit > 0 {
			swap := 2 * *m.Limit
			m.Swap = &swap
		}
		return nil
	}
	if *m.Swap == -1 {
		return nil
	}
	sw := strconv.FormatInt(*m.Swap, 10)
	if m.Limit == nil {
		return flagErr("--memory-swap", sw, "set without --memory: you should always set the memory limit when using memoryswap limit")
	}
	if *m.Swap < *m.Limit {
		return flagErr("--memory-swap", sw, "minimum memoryswap limit should be larger than memory limit %d", *m.Limit)
	}
	return nil
}

// cpuPeriod is the CFS period --cpus uses, in microseconds.
const cpuPeriod = 100000

// numCPU is the number of CPUs the engine may use; a variable for tests.
var numCPU = runtime.NumCPU

// WithCPUs limits the container to cpus CPUs (--cpus 1.5: a quota of
// 150000us every 100000us); 0 is no limit.
func WithCPUs(cpus float64) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		v := strconv.FormatFloat(cpus, 'f', -1, 64)
		if cpus == 0 {
			return nil
		}
		n := numCPU()
		// Docker keeps the value in nano-CPUs.
		nano := math.Round(cpus * 1e9)
		if math.IsNaN(cpus) || nano < 1e7 || nano > float64(n)*1e9 {
			return flagErr("--cpus", v, "range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
		}
		quota := int64(nano) * cpuPeriod / 1e9
		period := uint64(cpuPeriod)
		c := cpu(s)
		c.Quota, c.Period = &quota, &period
		return nil
	}
}

func cpu(s *specs.Spec) *specs.LinuxCPU {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	if s.Linux.Resources.CPU == nil {
		s.Linux.Resources.CPU = &specs.LinuxCPU{}
	}
	return s.Linux.Resources.CPU
}

// The kernel's bounds of cpu.shares; Docker moves a value outside them to
// the nearest bound.
const (
	minShares = 2
	maxShares = 262144
)

// WithCPUShares sets the relative CPU weight (-c/--cpu-shares); 0 is the
// default.
func WithCPUShares(n int64) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		switch {
		case n == 0:
			return nil
		case n < 0:
			return flagErr("--cpu-shares", strconv.FormatInt(n, 10), "must be a positive integer")
		case n < minShares:
			n = minShares
		case n > maxShares:
			n = maxShares
		}
		u := uint64(n)
		cpu(s).Shares = &u
		return nil
	}
}

// onlineCPUs is the host's online CPU list; a variable for tests.
var onlineCPUs = func() (string, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	return strings.TrimSpace(string(b)), err
}

// parseCPUList parses a cpuset list such as "0-2,4" into its members.
func parseCPUList(v string) (map[int]bool, error) {
	out := map[int]bool{}
	if v == "" {
		return out, nil
	}
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid value %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid range %q", part)
			}
		}
		if b-a > 1<<16 {
			return nil, fmt.Errorf("range %q is too large", part)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// WithCpusetCpus pins the container to CPUs (--cpuset-cpus "0-2,4"),
// which must be online on this host.
func WithCpusetCpus(list string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		want, err := parseCPUList(list)
		if err != nil {
			return flagErr("--cpuset-cpus", list, "%v", err)
		}
		online, err := onlineCPUs()
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("--cpuset-cpus %q: read online CPUs: %v", list, err))
		}
		have, err := parseCPUList(online)
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("--cpuset-cpus %q: online CPUs %q: %v", list, online, err))
		}
		for c := range want {
			if !have[c] {
				return flagErr("--cpuset-cpus", list, "requested CPUs are not available (available: %s)", online)
			}
		}
		cpu(s).Cpus = list
		return nil
	}
}

// WithPidsLimit limits the number of processes (--pids-limit); 0 or a
// negative number is unlimited, as in Docker.
func WithPidsLimit(n int64) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if n <= 0 {
			n = -1
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &n}
		return nil
	}
}

// CheckResources checks, outside Generate, the limits of a spec that
// SpecOpts changed (docker update): the memory and swap limits agree.
func CheckResources(s *specs.Spec) error {
	if s.Linux == nil {
		return nil
	}
	return checkMemory(s)
}
