package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newRunCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runContainer(cmd, &o, args)
		},
	}
	f := commandFlags(cmd)
	o.addRunFlags(f)
	o.addCreateFlags(f)
	return cmd
}

func (c *CLI) runContainer(cmd *cobra.Command, o *runOptions, args []string) error {
	ctx := cmd.Context()
	cfg, err := o.parse(cmd.Flags(), args)
	if err != nil {
		return runError(cmd, err)
	}
	config := cfg.Config
	if o.detach {
		if cmd.Flags().Changed("attach") {
			return runError(cmd, errors.New("conflicting options: cannot specify both --attach and --detach"))
		}
		config.AttachStdin, config.AttachStdout, config.AttachStderr = false, false, false
		config.StdinOnce = false
	} else if config.OpenStdin && config.AttachStdin {
		config.StdinOnce = true
	}
	if config.Tty && config.AttachStdin && !isTerminal(c.In) {
		return StatusError{Status: "capsa: the input device is not a TTY", StatusCode: 1}
	}
	if config.Tty {
		if h, w, ok := terminalSize(c.Out); ok {
			cfg.HostConfig.ConsoleSize = [2]uint{h, w}
		}
	}
	detachKeys := o.detachKeys
	if detachKeys == "" {
		detachKeys = defaultDetachKeys
	}
	keys, err := parseDetachKeys(detachKeys)
	if err != nil {
		return runError(cmd, err)
	}

	cl, err := c.Client(ctx)
	if err != nil {
		return err
	}
	id, err := c.createContainer(ctx, cfg, o.name)
	if err != nil {
		return runError(cmd, err)
	}

	attached := config.AttachStdin || config.AttachStdout || config.AttachStderr
	if !attached {
		if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return startError(cmd, err)
		}
		fmt.Fprintln(c.Out, id)
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if o.sigProxy && !config.Tty {
		proxySignals(ctx, cl, id)
	}

	resp, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      config.AttachStdin,
		Stdout:     config.AttachStdout,
		Stderr:     config.AttachStderr,
		DetachKeys: detachKeys,
	})
	if err != nil {
		return runError(cmd, err)
	}
	defer resp.Close()

	restore := func() {}
	if config.Tty && config.AttachStdin {
		restore = rawTerminal(c.In)
	}
	defer restore()

	s := streams{out: c.Out, errw: c.Err, tty: config.Tty, detachKeys: keys}
	if config.AttachStdin {
		s.in = c.In
	}
	if !config.AttachStdout {
		s.out = discard{}
	}
	if !config.AttachStderr {
		s.errw = discard{}
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- pump(ctx, &resp.HijackedResponse, s) }()

	cond := container.WaitConditionNextExit
	if cfg.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	wait := cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})

	if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-streamDone
		restore()
		if cfg.HostConfig.AutoRemove {
			_, _ = cl.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
		}
		return startError(cmd, err)
	}
	if config.Tty && isTerminal(c.Out) {
		monitorSize(ctx, c.Out, func(h, w uint) error {
			_, err := cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
	}

	if err := <-streamDone; err != nil {
		restore()
		if errors.Is(err, errDetached) {
			return nil
		}
		return StatusError{Status: "capsa: " + err.Error(), StatusCode: 1}
	}
	restore()
	return exitStatus(wait)
}

// exitStatus waits for the container's exit and turns its status into this
// process's.
func exitStatus(wait client.ContainerWaitResult) error {
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return StatusError{Status: res.Error.Message, StatusCode: 125}
		}
		if res.StatusCode != 0 {
			return StatusError{StatusCode: int(res.StatusCode)}
		}
		return nil
	case err := <-wait.Error:
		return StatusError{Status: err.Error(), StatusCode: 125}
	}
}

// startError maps a failed start as docker does: a command that cannot be
// found is 127, one that cannot be run is 126, anything else 125.
func startError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, syscall.EACCES.Error()) || strings.Contains(msg, syscall.EISDIR.Error()):
		code = 126
	}
	return StatusError{
		Status:     fmt.Sprintf("capsa: %s\n\nRun '%s --help' for more information", msg, cmd.CommandPath()),
		StatusCode: code,
	}
}

// discard is an io.Writer that drops everything.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
