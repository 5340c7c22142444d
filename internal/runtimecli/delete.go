package runtimecli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

func deleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete [--force] CONTAINER_ID",
		Aliases: []string{"rm"},
		Short:   "delete a stopped container (with --force, also a running one)",
		Args:    exactArgs(1, "capsa-runtime delete [--force] CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				// runc: delete --force of a missing container succeeds.
				if force && errors.Is(err, errdefs.ErrNotFound) {
					return nil
				}
				return err
			}
			return c.Delete(cmd.Context(), force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it is running")
	return cmd
}
