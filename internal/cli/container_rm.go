package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newRmCommand() *cobra.Command {
	var opts client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerRemove(cmd.Context(), id, opts)
				return err
			})
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&opts.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	f.BoolVarP(&opts.RemoveLinks, "link", "l", false, "Remove the specified link")
	f.BoolVarP(&opts.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}
