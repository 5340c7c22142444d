package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newPauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerPause(cmd.Context(), id, client.ContainerPauseOptions{})
				return err
			})
		},
	}
}

func (c *CLI) newUnpauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerUnpause(cmd.Context(), id, client.ContainerUnpauseOptions{})
				return err
			})
		},
	}
}
