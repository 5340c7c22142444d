// Package cli is the capsa command line: a docker-compatible client of the
// Docker Engine API that capsad serves. Every command talks to the daemon
// through the moby client library only; one file per command
// (container_run.go, image_list.go, ...). Behaviour, flags, output formats
// and exit codes follow docker's CLI.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/capsa-dev/capsa/internal/version"
)

// DefaultHost is the daemon address when neither -H nor CAPSA_HOST says
// otherwise.
const DefaultHost = "unix:///run/capsa/capsa.sock"

// HostEnv names the environment variable that overrides DefaultHost.
const HostEnv = "CAPSA_HOST"

// StatusError is an error with the exit status the process ends with.
// An empty Status prints nothing (the command already said what it had to).
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("exit status %d", e.StatusCode)
	}
	return e.Status
}

// CLI holds the streams and the daemon connection shared by the commands.
type CLI struct {
	In  io.ReadCloser
	Out io.Writer
	Err io.Writer

	host   string
	client *client.Client
}

// Main runs the capsa command line with args (without the program name)
// and returns the process's exit status.
func Main(ctx context.Context, args []string) int {
	c := &CLI{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	root := c.NewRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if c.client != nil {
		_ = c.client.Close()
	}
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(c.Err, se.Status)
		}
		if se.StatusCode == 0 {
			return 1
		}
		return se.StatusCode
	}
	fmt.Fprintln(c.Err, err)
	return 1
}

// Client returns the daemon client, connecting (and starting capsad when
// the default socket is silent) on first use.
func (c *CLI) Client(ctx context.Context) (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	host := c.host
	if host == "" {
		host = os.Getenv(HostEnv)
	}
	if host == "" {
		host = DefaultHost
	}
	cl, err := client.New(client.WithHost(host),
		client.WithUserAgent("capsa-cli/"+version.Version))
	if err != nil {
		return nil, err
	}
	if _, err := cl.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		if !client.IsErrConnectionFailed(err) {
			_ = cl.Close()
			return nil, err
		}
		if host != DefaultHost || os.Geteuid() != 0 {
			_ = cl.Close()
			return nil, cannotConnect(host)
		}
		if err := startDaemon(ctx, cl); err != nil {
			_ = cl.Close()
			return nil, err
		}
	}
	c.client = cl
	return cl, nil
}

func cannotConnect(host string) error {
	return StatusError{
		Status:     fmt.Sprintf("Cannot connect to the capsa daemon at %s. Is capsad running?", host),
		StatusCode: 1,
	}
}

// NewRootCommand builds the capsa command tree.
func (c *CLI) NewRootCommand() *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:           "capsa [OPTIONS] COMMAND [ARG...]",
		Short:         "A container engine for Linux, compatible with docker",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				fmt.Fprintf(c.Out, "capsa version %s, build %s\n", version.Version, version.Commit)
				return nil
			}
			if len(args) > 0 {
				return StatusError{
					Status:     fmt.Sprintf("capsa: '%s' is not a capsa command.\nSee 'capsa --help'", args[0]),
					StatusCode: 1,
				}
			}
			return cmd.Help()
		},
	}
	root.SetIn(c.In)
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	root.Flags().BoolVarP(&showVersion, "version", "v", false, "Print version information and quit")
	root.PersistentFlags().StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to (default $CAPSA_HOST or "+DefaultHost+")")
	// --help without -h, as docker: -h is run's --hostname.
	root.PersistentFlags().Bool("help", false, "Print usage")
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(flagError)
	root.Flags().SetInterspersed(false)

	containerCmds := []func() *cobra.Command{
		c.newRunCommand, c.newCreateCommand, c.newStartCommand, c.newStopCommand,
		c.newKillCommand, c.newRestartCommand, c.newUpdateCommand, c.newRmCommand, c.newPsCommand,
		c.newLogsCommand, c.newExecCommand, c.newStatsCommand, c.newTopCommand,
		c.newWaitCommand, c.newAttachCommand, c.newPauseCommand, c.newUnpauseCommand,
		c.newRenameCommand, c.newCpCommand, c.newDiffCommand, c.newExportCommand, c.newCommitCommand,
		c.newContainerInspectCommand, c.newPortCommand,
	}
	imageCmds := []func() *cobra.Command{
		c.newImagesCommand, c.newRmiCommand, c.newImportCommand, c.newImageInspectCommand, c.newPullCommand,
		c.newPushCommand, c.newTagCommand, c.newSaveCommand, c.newLoadCommand, c.newHistoryCommand,
	}

	container := &cobra.Command{Use: "container", Short: "Manage containers", Args: noArgs, RunE: showHelp}
	for _, f := range containerCmds {
		container.AddCommand(f())
	}
	ls := c.newPsCommand()
	ls.Use = "ls [OPTIONS]"
	ls.Aliases = []string{"list", "ps"}
	container.AddCommand(ls, c.newContainerPruneCommand())
	for _, f := range containerCmds {
		cmd := f()
		if cmd.Name() == "inspect" {
			continue
		}
		root.AddCommand(cmd)
	}

	image := &cobra.Command{Use: "image", Short: "Manage images", Args: noArgs, RunE: showHelp}
	for _, f := range imageCmds {
		cmd := f()
		switch cmd.Name() {
		case "images":
			cmd.Use = "ls [OPTIONS] [REPOSITORY[:TAG]]"
			cmd.Aliases = []string{"list"}
		case "rmi":
			cmd.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
			cmd.Aliases = []string{"remove", "rmi"}
		}
		image.AddCommand(cmd)
	}
	image.AddCommand(c.newImagePruneCommand())
	for _, f := range imageCmds {
		if cmd := f(); cmd.Name() != "inspect" {
			root.AddCommand(cmd)
		}
	}

	system := &cobra.Command{Use: "system", Short: "Manage capsa", Args: noArgs, RunE: showHelp}
	system.AddCommand(c.newInfoCommand(), c.newEventsCommand(), c.newDfCommand(), c.newSystemPruneCommand())

	root.AddCommand(container, image, system, c.newVolumeCommand(), c.newNetworkCommand(),
		c.newInspectCommand(), c.newInfoCommand(), c.newVersionCommand(), c.newEventsCommand(),
		c.newLoginCommand(), c.newLogoutCommand())
	for _, cmd := range root.Commands() {
		setFlagErrorFunc(cmd)
	}
	return root
}

func setFlagErrorFunc(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(flagError)
	cmd.DisableFlagsInUseLine = true
	for _, sub := range cmd.Commands() {
		setFlagErrorFunc(sub)
	}
}

// flagError reports a bad flag as docker does: the message, the usage
// line, a pointer to --help, and exit status 125.
func flagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information",
			err, cmd.UseLine(), cmd.CommandPath()),
		StatusCode: 125,
	}
}

func showHelp(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return StatusError{
		Status:     fmt.Sprintf("capsa: '%s' is not a capsa command.\nSee '%s --help'", strings.Join(append(strings.Fields(cmd.CommandPath())[1:], args[0]), " "), cmd.CommandPath()),
		StatusCode: 1,
	}
}

// requiresMinArgs and friends word argument errors as docker does.
func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n)))
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires %d %s", n, plural(n)))
	}
}

func requiresRangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", lo, hi, plural(hi)))
	}
}

func noPositional(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

func plural(n int) string {
	if n == 1 {
		return "argument"
	}
	return "arguments"
}

func argsError(cmd *cobra.Command, what string) error {
	return StatusError{
		Status: fmt.Sprintf("capsa: '%s' %s\n\nUsage:  %s\n\nSee '%s --help' for more information",
			cmd.CommandPath(), what, cmd.UseLine(), cmd.CommandPath()),
		StatusCode: 1,
	}
}

// multiError joins the errors of a command that acts on several objects,
// one line each, as docker prints them.
func multiError(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return StatusError{Status: strings.Join(errs, "\n"), StatusCode: 1}
}

// commandFlags is a small convenience for the flag sets of the commands.
func commandFlags(cmd *cobra.Command) *pflag.FlagSet {
	f := cmd.Flags()
	f.SortFlags = false
	return f
}
