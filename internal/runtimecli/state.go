package runtimecli

import (
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/runtime"
)

// containerState is what state and list --format json print: the OCI
// state plus the fields runc adds.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func stateOf(c *runtime.Container) containerState {
	s := c.OCIState()
	info := c.Info()
	return containerState{
		OCIVersion: s.Version, ID: s.ID, Pid: s.Pid, Status: string(s.Status),
		Bundle: s.Bundle, Rootfs: info.Rootfs, Created: info.Created, Owner: info.Owner,
		Annotations: s.Annotations,
	}
}

func stateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER_ID",
		Short: "print a container's state as JSON",
		Args:  exactArgs(1, "capsa-runtime state CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(stateOf(c))
		},
	}
}
