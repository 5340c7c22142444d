package cli

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newRmiCommand() *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []string
			for _, name := range args {
				res, err := cl.ImageRemove(cmd.Context(), name, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, d := range res.Items {
					if d.Deleted != "" {
						fmt.Fprintf(c.Out, "Deleted: %s\n", d.Deleted)
					} else {
						fmt.Fprintf(c.Out, "Untagged: %s\n", d.Untagged)
					}
				}
			}
			return multiError(errs)
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&force, "force", "f", false, "Force removal of the image")
	f.BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}
