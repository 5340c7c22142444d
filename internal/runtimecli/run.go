package runtimecli

import "github.com/spf13/cobra"

func runCmd(g *globals) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER_ID",
		Short: "create and start a container; in the foreground, wait for it and exit with its status",
		Args:  exactArgs(1, "capsa-runtime run [flags] CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := g.runtime().Run(cmd.Context(), f.opts(args[0]), f.detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitCodeError{code}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&f.detach, "detach", "d", false, "return once the container runs")
	// runc compatibility: accepted, and meaningless here.
	cmd.Flags().Bool("no-subreaper", false, "accepted for runc compatibility")
	cmd.Flags().Bool("keep", false, "do not delete the container after it exits (not supported yet)")
	_ = cmd.Flags().MarkHidden("no-subreaper")
	return cmd
}
