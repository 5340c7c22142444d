package cli

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newStopCommand() *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerStopOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
				_, err := cl.ContainerStop(cmd.Context(), id, opts)
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

// eachContainer runs do for every name in args, printing each name done
// and each error, as docker's stop, kill, rm, pause... do.
func (c *CLI) eachContainer(cmd *cobra.Command, args []string, do func(cl *client.Client, name string) error) error {
	cl, err := c.Client(cmd.Context())
	if err != nil {
		return err
	}
	var errs []string
	for _, name := range args {
		if err := do(cl, name); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		fmt.Fprintln(c.Out, name)
	}
	return multiError(errs)
}
