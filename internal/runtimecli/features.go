package runtimecli

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/caps"
	"github.com/capsa-dev/capsa/internal/runtime/config"
	"github.com/capsa-dev/capsa/internal/seccomp"
)

func featuresCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "print what this runtime supports, as runtime-spec's features document",
		Args:  exactArgs(0, "capsa-runtime features"),
		RunE: func(cmd *cobra.Command, args []string) error {
			yes, no := true, false
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: config.SpecVersion,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  config.MountOptions(),
				Linux: &features.Linux{
					Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
					Capabilities: caps.Known(),
					Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
					Seccomp: &features.Seccomp{
						Enabled:   &yes,
						Actions:   seccomp.Actions(),
						Operators: seccomp.Operators(),
						Archs:     seccomp.Archs(),
					},
					Apparmor:        &features.Apparmor{Enabled: &no},
					Selinux:         &features.Selinux{Enabled: &no},
					IntelRdt:        &features.IntelRdt{Enabled: &no},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
				},
				Annotations: map[string]string{"io.github.capsa.runtime": "capsa-runtime"},
			}
			sort.Strings(f.MountOptions)
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			return enc.Encode(f)
		},
	}
}
