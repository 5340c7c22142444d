package cli

import (
	"context"
	"errors"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newAttachCommand() *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.attach(cmd.Context(), args[0], !noStdin, sigProxy, detachKeys)
		},
	}
	f := commandFlags(cmd)
	f.BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	f.BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	f.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func (c *CLI) attach(ctx context.Context, name string, stdin, sigProxy bool, detachKeys string) error {
	cl, err := c.Client(ctx)
	if err != nil {
		return err
	}
	ins, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	st := ins.Container.State
	switch {
	case st == nil || !st.Running:
		return StatusError{Status: "You cannot attach to a stopped container, start it first", StatusCode: 1}
	case st.Paused:
		return StatusError{Status: "You cannot attach to a paused container, unpause it first", StatusCode: 1}
	case st.Restarting:
		return StatusError{Status: "You cannot attach to a restarting container, wait until it is running", StatusCode: 1}
	}
	cfg := ins.Container.Config
	stdin = stdin && cfg.OpenStdin
	if stdin && cfg.Tty && !isTerminal(c.In) {
		return errors.New("the input device is not a TTY")
	}
	if detachKeys == "" {
		detachKeys = defaultDetachKeys
	}
	keys, err := parseDetachKeys(detachKeys)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := cl.ContainerWait(ctx, ins.Container.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	resp, err := cl.ContainerAttach(ctx, ins.Container.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: detachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	if sigProxy && !cfg.Tty {
		proxySignals(ctx, cl, ins.Container.ID)
	}
	restore := func() {}
	if cfg.Tty && stdin {
		restore = rawTerminal(c.In)
	}
	defer restore()
	if cfg.Tty && isTerminal(c.Out) {
		monitorSize(ctx, c.Out, func(h, w uint) error {
			_, err := cl.ContainerResize(ctx, ins.Container.ID, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
	}
	s := streams{out: c.Out, errw: c.Err, tty: cfg.Tty, detachKeys: keys}
	if stdin {
		s.in = c.In
	}
	if err := pump(ctx, &resp.HijackedResponse, s); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	restore()
	return exitStatus(wait)
}
