// Command capsad is capsa's daemon: it serves the Docker Engine API on
// /run/capsa/capsa.sock and runs containers under capsa-shim. See
// package internal/daemon.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/daemon"
	"github.com/capsa-dev/capsa/internal/version"
)

func main() {
	var (
		configFile string
		flags      daemon.Config
		hosts      []string
	)
	cmd := &cobra.Command{
		Use:           "capsad",
		Short:         "capsa's daemon: the Docker Engine API on a unix socket",
		Version:       version.Version + ", commit " + version.Commit,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := daemon.LoadConfig(configFile, cmd.Flags().Changed("config-file"))
			if err != nil {
				return err
			}
			// Flags win over the file.
			if flags.DataRoot != "" {
				cfg.DataRoot = flags.DataRoot
			}
			if flags.ExecRoot != "" {
				cfg.ExecRoot = flags.ExecRoot
			}
			if len(hosts) > 0 {
				cfg.Hosts = hosts
			}
			if flags.DefaultRuntime != "" {
				cfg.DefaultRuntime = flags.DefaultRuntime
			}
			if flags.Debug {
				cfg.Debug = true
			}
			level := slog.LevelInfo
			if cfg.Debug {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
			defer stop()
			// A daemon started in the background by the CLI must not die
			// with its terminal.
			signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
			return daemon.Run(ctx, cfg, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config-file", daemon.DefaultConfigFile, "daemon configuration file")
	f.StringVar(&flags.DataRoot, "data-root", "", "root of persistent state (default /var/lib/capsa)")
	f.StringVar(&flags.ExecRoot, "exec-root", "", "root of runtime state (default /run/capsa)")
	f.StringArrayVarP(&hosts, "host", "H", nil, "socket to serve (default unix:///run/capsa/capsa.sock)")
	f.StringVar(&flags.DefaultRuntime, "default-runtime", "", "runtime of containers that name none (default capsa)")
	f.BoolVarP(&flags.Debug, "debug", "D", false, "log every request")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "capsad: %v\n", err)
		os.Exit(1)
	}
}
