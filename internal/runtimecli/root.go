// Package runtimecli is capsa-runtime's command line: runc's verbs and
// flags, as containerd, podman, docker and the OCI conformance suite call
// them. Each verb lives in its own file and turns flags into one call of
// package runtime.
package runtimecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/runtime"
	"github.com/capsa-dev/capsa/internal/version"
)

// globals are the flags every verb shares.
type globals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
}

func (g *globals) runtime() *runtime.Runtime {
	return &runtime.Runtime{Root: g.root, SystemdCgroup: g.systemdCgroup}
}

// Main runs the command line and returns the process's exit status.
func Main(args []string) int {
	g := &globals{}
	// Until the flags are parsed (a usage error comes before that), the
	// plain "capsa-runtime: message" lines on stderr.
	slog.SetDefault(slog.New(&stderrHandler{level: slog.LevelWarn}))
	root := &cobra.Command{
		Use:   "capsa-runtime",
		Short: "capsa's OCI runtime: runs containers from OCI bundles, as runc does",
		Long: `capsa-runtime creates and runs containers from OCI bundles (a config.json and
a root filesystem). Its commands and flags follow runc's, so containerd,
podman and docker can use it in runc's place.`,
		Version:       fmt.Sprintf("%s\ncommit: %s\nspec: %s", version.Version, version.Commit, version.OCIVersion),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setupLogging(g)
		},
	}
	root.SetVersionTemplate("capsa-runtime version {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", runtime.DefaultRoot, "directory for container state (should be on tmpfs)")
	pf.StringVar(&g.log, "log", "", "write the runtime's log to this file (default: stderr)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.BoolVar(&g.debug, "debug", false, "log debug messages")
	pf.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (not supported yet)")
	pf.StringVar(&g.rootless, "rootless", "auto", "ignore cgroup permission errors (true, false, auto); accepted for compatibility")
	// Accepted and ignored, for callers that pass them to runc.
	pf.String("criu", "criu", "path to criu (checkpoint/restore is not supported yet)")
	_ = pf.MarkHidden("criu")

	root.AddCommand(
		createCmd(g), startCmd(g), runCmd(g), stateCmd(g), killCmd(g), deleteCmd(g),
		listCmd(g), execCmd(g), psCmd(g), pauseCmd(g), resumeCmd(g), updateCmd(g),
		eventsCmd(g), specCmd(g), featuresCmd(g),
	)
	root.SetArgs(args[1:])
	code := 0
	cmd, err := root.ExecuteC()
	if err != nil {
		var ec *exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		name := "capsa-runtime"
		if cmd != nil && cmd != root {
			name += " " + cmd.Name()
		}
		slog.Error(err.Error())
		if g.log != "" || g.logFormat == "json" {
			// The log went to the file; users still read stderr.
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
		code = 1
	}
	return code
}

// exitCodeError carries a container's exit status out of run/exec.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func setupLogging(g *globals) error {
	var w io.Writer = os.Stderr
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %q: %w", g.log, err)
		}
		w = f
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		// containerd and podman look for runc's lowercase "level":"error".
		if a.Key == slog.LevelKey {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}}
	var h slog.Handler
	switch g.logFormat {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		if g.log == "" {
			h = &stderrHandler{level: level}
		} else {
			h = slog.NewTextHandler(w, opts)
		}
	default:
		return fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// stderrHandler prints "capsa-runtime: message key=value" lines: what a
// person running the command wants to read.
type stderrHandler struct {
	level slog.Level
	attrs []slog.Attr
}

func (h *stderrHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *stderrHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("capsa-runtime: ")
	if r.Level != slog.LevelError {
		b.WriteString(strings.ToLower(r.Level.String()) + ": ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := os.Stderr.WriteString(b.String())
	return err
}
func (h *stderrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &stderrHandler{level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *stderrHandler) WithGroup(string) slog.Handler { return h }

// exactArgs is cobra.ExactArgs with runc-like messages.
func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%q requires exactly %d argument(s): usage: %s", cmd.Name(), n, usage)
		}
		return nil
	}
}
