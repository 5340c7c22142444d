package runtimecli

import "github.com/spf13/cobra"

func pauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER_ID",
		Short: "freeze every process of a container",
		Args:  exactArgs(1, "capsa-runtime pause CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Pause(cmd.Context())
		},
	}
}

func resumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume CONTAINER_ID",
		Short: "thaw a paused container",
		Args:  exactArgs(1, "capsa-runtime resume CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Resume(cmd.Context())
		},
	}
}
