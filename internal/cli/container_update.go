package cli

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newUpdateCommand() *cobra.Command {
	var (
		memory     memBytes
		swap       swapBytes
		cpus       nanoCPUs
		cpuShares  int64
		cpusetCpus string
		pidsLimit  int64
		restart    string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			var res container.Resources
			changed := false
			if f.Changed("memory") {
				res.Memory, changed = int64(memory), true
			}
			if f.Changed("memory-swap") {
				res.MemorySwap, changed = int64(swap), true
			}
			if f.Changed("cpus") {
				res.NanoCPUs, changed = int64(cpus), true
			}
			if f.Changed("cpu-shares") {
				res.CPUShares, changed = cpuShares, true
			}
			if f.Changed("cpuset-cpus") {
				res.CpusetCpus, changed = cpusetCpus, true
			}
			if f.Changed("pids-limit") {
				res.PidsLimit, changed = &pidsLimit, true
			}
			opts := client.ContainerUpdateOptions{Resources: &res}
			if f.Changed("restart") {
				p, err := parseRestartPolicy(restart)
				if err != nil {
					return flagError(cmd, err)
				}
				opts.RestartPolicy, changed = &p, true
			}
			if !changed {
				return flagError(cmd, fmt.Errorf("you must provide one or more flags when using this command"))
			}
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerUpdate(cmd.Context(), id, opts)
				return err
			})
		},
	}
	f := commandFlags(cmd)
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&swap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Var(&cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
