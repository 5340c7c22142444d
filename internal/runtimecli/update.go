package runtimecli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func updateCmd(g *globals) *cobra.Command {
	var resources string
	cmd := &cobra.Command{
		Use:   "update [flags] CONTAINER_ID",
		Short: "change the resource limits of a container",
		Args:  exactArgs(1, "capsa-runtime update [flags] CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := &specs.LinuxResources{}
			if resources != "" {
				var in io.Reader = os.Stdin
				if resources != "-" {
					f, err := os.Open(resources)
					if err != nil {
						return fmt.Errorf("--resources %q: %w", resources, err)
					}
					defer f.Close()
					in = f
				}
				if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(r); err != nil {
					return fmt.Errorf("--resources %q: decode: %w", resources, err)
				}
			}
			if err := updateFromFlags(cmd, r); err != nil {
				return err
			}
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Update(cmd.Context(), r)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&resources, "resources", "r", "", "path to a JSON linux.resources object, or - for stdin")
	for _, n := range []string{"memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp",
		"cpu-shares", "cpu-quota", "cpu-period", "cpu-burst", "cpu-rt-period", "cpu-rt-runtime", "pids-limit", "blkio-weight"} {
		fl.String(n, "", "set "+n)
	}
	fl.String("cpuset-cpus", "", "CPUs allowed (0-3, 0,1)")
	fl.String("cpuset-mems", "", "memory nodes allowed (0-3, 0,1)")
	fl.String("l3-cache-schema", "", "Intel RDT (not supported)")
	return cmd
}

// updateFromFlags applies runc update's per-field flags over r.
func updateFromFlags(cmd *cobra.Command, r *specs.LinuxResources) error {
	fl := cmd.Flags()
	intFlag := func(name string, set func(int64)) error {
		if !fl.Changed(name) {
			return nil
		}
		v, _ := fl.GetString(name)
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", name, v, err)
		}
		set(n)
		return nil
	}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	u64 := func(n int64) *uint64 { v := uint64(n); return &v }
	steps := []struct {
		name string
		set  func(int64)
	}{
		{"memory", func(n int64) { mem().Limit = &n }},
		{"memory-reservation", func(n int64) { mem().Reservation = &n }},
		{"memory-swap", func(n int64) { mem().Swap = &n }},
		//lint:ignore SA1019 runc accepts --kernel-memory; the limit is ignored (cgroup/doc.go).
		{"kernel-memory", func(n int64) { mem().Kernel = &n }},
		{"kernel-memory-tcp", func(n int64) { mem().KernelTCP = &n }},
		{"cpu-shares", func(n int64) { cpu().Shares = u64(n) }},
		{"cpu-quota", func(n int64) { cpu().Quota = &n }},
		{"cpu-period", func(n int64) { cpu().Period = u64(n) }},
		{"cpu-burst", func(n int64) { cpu().Burst = u64(n) }},
		{"cpu-rt-period", func(n int64) { cpu().RealtimePeriod = u64(n) }},
		{"cpu-rt-runtime", func(n int64) { cpu().RealtimeRuntime = &n }},
		{"pids-limit", func(n int64) { r.Pids = &specs.LinuxPids{Limit: &n} }},
		{"blkio-weight", func(n int64) { w := uint16(n); r.BlockIO = &specs.LinuxBlockIO{Weight: &w} }},
	}
	for _, s := range steps {
		if err := intFlag(s.name, s.set); err != nil {
			return err
		}
	}
	if fl.Changed("cpuset-cpus") {
		cpu().Cpus, _ = fl.GetString("cpuset-cpus")
	}
	if fl.Changed("cpuset-mems") {
		cpu().Mems, _ = fl.GetString("cpuset-mems")
	}
	if fl.Changed("l3-cache-schema") {
		return fmt.Errorf("--l3-cache-schema: Intel RDT is not supported")
	}
	return nil
}

// parseBytes parses a number with an optional k/m/g suffix (binary).
func parseBytes(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty value")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	return n * mult, nil
}
