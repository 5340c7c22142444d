package cli

import (
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newLogsCommand() *cobra.Command {
	var opts client.ContainerLogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			ins, err := cl.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			opts.ShowStdout, opts.ShowStderr = true, true
			rc, err := cl.ContainerLogs(ctx, ins.Container.ID, opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if ins.Container.Config != nil && ins.Container.Config.Tty {
				_, err = io.Copy(c.Out, rc)
			} else {
				_, err = stdcopy.StdCopy(c.Out, c.Err, rc)
			}
			return err
		},
	}
	f := commandFlags(cmd)
	f.BoolVar(&opts.Details, "details", false, "Show extra details provided to logs")
	f.BoolVarP(&opts.Follow, "follow", "f", false, "Follow log output")
	f.StringVar(&opts.Since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	f.StringVarP(&opts.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	f.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Show timestamps")
	f.StringVar(&opts.Until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	return cmd
}
