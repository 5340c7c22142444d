package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newExecCommand() *cobra.Command {
	var o struct {
		detach, interactive, tty, privileged bool
		env, envFile                         []string
		workdir, user, detachKeys            string
	}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  requiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := readEnv(o.envFile, o.env)
			if err != nil {
				return err
			}
			if o.tty && o.interactive && !o.detach && !isTerminal(c.In) {
				return errors.New("the input device is not a TTY")
			}
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			create := client.ExecCreateOptions{
				User: o.user, Privileged: o.privileged, TTY: o.tty,
				AttachStdin: o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
				DetachKeys: o.detachKeys, Env: env, WorkingDir: o.workdir, Cmd: args[1:],
			}
			var size client.ConsoleSize
			if o.tty {
				if h, w, ok := terminalSize(c.Out); ok {
					size = client.ConsoleSize{Height: h, Width: w}
				}
				create.ConsoleSize = size
			}
			ex, err := cl.ExecCreate(ctx, args[0], create)
			if err != nil {
				return err
			}
			if o.detach {
				_, err := cl.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true, TTY: o.tty, ConsoleSize: size})
				return err
			}
			return c.execAttached(ctx, cl, ex.ID, o.tty, o.interactive, o.detachKeys, size)
		},
	}
	f := commandFlags(cmd)
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

func (c *CLI) execAttached(ctx context.Context, cl *client.Client, id string, tty, stdin bool, detachKeys string, size client.ConsoleSize) error {
	if detachKeys == "" {
		detachKeys = defaultDetachKeys
	}
	keys, err := parseDetachKeys(detachKeys)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := cl.ExecAttach(ctx, id, client.ExecAttachOptions{TTY: tty, ConsoleSize: size})
	if err != nil {
		return err
	}
	defer resp.Close()
	restore := func() {}
	if tty && stdin {
		restore = rawTerminal(c.In)
	}
	defer restore()
	if tty && isTerminal(c.Out) {
		monitorSize(ctx, c.Out, func(h, w uint) error {
			_, err := cl.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
			return err
		})
	}
	s := streams{out: c.Out, errw: c.Err, tty: tty, detachKeys: keys}
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
	res, err := cl.ExecInspect(context.WithoutCancel(ctx), id, client.ExecInspectOptions{})
	if err != nil {
		return err
	}
	if res.Running {
		return fmt.Errorf("exec %s: still running after its output ended", id)
	}
	if res.ExitCode != 0 {
		return StatusError{StatusCode: res.ExitCode}
	}
	return nil
}
