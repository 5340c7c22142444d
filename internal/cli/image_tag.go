package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newTagCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cl.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}
