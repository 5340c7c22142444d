package cli

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newDiffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.ContainerDiff(cmd.Context(), args[0], client.ContainerDiffOptions{})
			if err != nil {
				return err
			}
			for _, ch := range res.Changes {
				fmt.Fprintf(c.Out, "%s %s\n", changeKind(ch.Kind), ch.Path)
			}
			return nil
		},
	}
}

func changeKind(k container.ChangeType) string {
	switch k {
	case container.ChangeModify:
		return "C"
	case container.ChangeAdd:
		return "A"
	case container.ChangeDelete:
		return "D"
	}
	return "?"
}
