package cli

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newRestartCommand() *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerRestartOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerRestart(cmd.Context(), id, opts)
				return err
			})
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	f.IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	f.IntVar(&timeout, "time", 0, "Seconds to wait before killing the container")
	_ = f.MarkDeprecated("time", "use --timeout instead")
	return cmd
}
