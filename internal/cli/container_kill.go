package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newKillCommand() *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerKill(cmd.Context(), id, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	commandFlags(cmd).StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}
