package cli

import (
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newRenameCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			name := strings.TrimSpace(args[1])
			if name == "" {
				return StatusError{Status: "Error: neither old nor new names may be empty", StatusCode: 1}
			}
			if _, err := cl.ContainerRename(cmd.Context(), args[0], client.ContainerRenameOptions{NewName: name}); err != nil {
				return StatusError{Status: err.Error() + "\nError: failed to rename container named " + args[0], StatusCode: 1}
			}
			return nil
		},
	}
}
