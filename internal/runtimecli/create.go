package runtimecli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/runtime"
)

// createFlags are shared by create and run.
type createFlags struct {
	bundle        string
	pidFile       string
	consoleSocket string
	noPivot       bool
	noNewKeyring  bool
	preserveFds   int
	detach        bool
}

func (f *createFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.bundle, "bundle", "b", ".", "path to the bundle directory (config.json and rootfs)")
	fl.StringVar(&f.pidFile, "pid-file", "", "write the container init's pid to this file")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master of a terminal container")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "do not use pivot_root (for a rootfs on a ramdisk)")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	fl.IntVar(&f.preserveFds, "preserve-fds", 0, "pass N extra fds (3..3+N-1) to the container")
}

func (f *createFlags) opts(id string) runtime.CreateOpts {
	return runtime.CreateOpts{
		ID: id, Bundle: f.bundle, PidFile: f.pidFile, ConsoleSocket: f.consoleSocket,
		NoPivot: f.noPivot, NoNewKeyring: f.noNewKeyring, PreserveFds: f.preserveFds,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

func createCmd(g *globals) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER_ID",
		Short: "create a container from a bundle; its process waits for start",
		Args:  exactArgs(1, "capsa-runtime create [flags] CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.runtime().Create(cmd.Context(), f.opts(args[0]))
			return err
		},
	}
	f.register(cmd)
	return cmd
}
