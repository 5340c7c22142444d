package cli

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newWaitCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []string
			for _, name := range args {
				w := cl.ContainerWait(cmd.Context(), name, client.ContainerWaitOptions{})
				select {
				case res := <-w.Result:
					fmt.Fprintln(c.Out, res.StatusCode)
				case err := <-w.Error:
					errs = append(errs, err.Error())
				}
			}
			return multiError(errs)
		},
	}
}
