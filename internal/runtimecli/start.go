package runtimecli

import "github.com/spf13/cobra"

func startCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER_ID",
		Short: "start a created container",
		Args:  exactArgs(1, "capsa-runtime start CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Start(cmd.Context())
		},
	}
}
