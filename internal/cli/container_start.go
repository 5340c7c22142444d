package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newStartCommand() *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !attach && !interactive {
				return c.eachContainer(cmd, args, func(cl *client.Client, id string) error {
					_, err := cl.ContainerStart(cmd.Context(), id, client.ContainerStartOptions{})
					return err
				})
			}
			if len(args) > 1 {
				return StatusError{Status: "you cannot start and attach multiple containers at once", StatusCode: 1}
			}
			return c.startAttached(cmd.Context(), args[0], interactive, detachKeys)
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// startAttached is start -a [-i]: attach, start, stream until the
// container ends, exit with its status.
func (c *CLI) startAttached(ctx context.Context, name string, interactive bool, detachKeys string) error {
	cl, err := c.Client(ctx)
	if err != nil {
		return err
	}
	ins, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	cfg := ins.Container.Config
	if ins.Container.State != nil && ins.Container.State.Running {
		return StatusError{Status: fmt.Sprintf("Error response from daemon: container %s is already running", name), StatusCode: 1}
	}
	if detachKeys == "" {
		detachKeys = defaultDetachKeys
	}
	keys, err := parseDetachKeys(detachKeys)
	if err != nil {
		return err
	}
	withStdin := interactive && cfg.OpenStdin
	if withStdin && cfg.Tty && !isTerminal(c.In) {
		return errors.New("the input device is not a TTY")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := cl.ContainerAttach(ctx, ins.Container.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: withStdin, Stdout: true, Stderr: true, DetachKeys: detachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	if !cfg.Tty {
		proxySignals(ctx, cl, ins.Container.ID)
	}
	restore := func() {}
	if cfg.Tty && withStdin {
		restore = rawTerminal(c.In)
	}
	defer restore()
	s := streams{out: c.Out, errw: c.Err, tty: cfg.Tty, detachKeys: keys}
	if withStdin {
		s.in = c.In
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- pump(ctx, &resp.HijackedResponse, s) }()
	cond := container.WaitConditionNextExit
	if ins.Container.HostConfig != nil && ins.Container.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	wait := cl.ContainerWait(ctx, ins.Container.ID, client.ContainerWaitOptions{Condition: cond})
	if _, err := cl.ContainerStart(ctx, ins.Container.ID, client.ContainerStartOptions{}); err != nil {
		return err
	}
	if cfg.Tty && isTerminal(c.Out) {
		monitorSize(ctx, c.Out, func(h, w uint) error {
			_, err := cl.ContainerResize(ctx, ins.Container.ID, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
	}
	if err := <-streamDone; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	restore()
	return exitStatus(wait)
}
