// Command capsa-shim keeps one container alive, holds its stdio, writes its
// log and records its exit, independently of the engine that started it.
// See package internal/shim.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/capsa-dev/capsa/internal/shim"
)

func main() {
	// No heap profiling: its sampling would allocate the profiler's
	// bucket table (1.4 MB of address space, counted against the heap's
	// limits, and a page of RSS for each sample) in every shim.
	runtime.MemProfileRate = 0
	// A shim runs for each container, for the container's whole life,
	// and does little: copy output, answer a few requests. Memory per
	// container matters more than its speed. One P: fewer threads and
	// per-P caches. GOGC 10: the GC's minimum heap (4 MB x GOGC/100)
	// would otherwise let a chatty container's log garbage grow the heap
	// to 4 MB before the first collection; the live heap is tens of KB,
	// so collections stay cheap. The environment still overrides both.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(10)
	}
	var cfg shim.Config
	fs := flag.NewFlagSet("capsa-shim", flag.ContinueOnError)
	fs.StringVar(&cfg.ID, "id", "", "container id")
	fs.StringVar(&cfg.Bundle, "bundle", "", "OCI bundle directory")
	fs.StringVar(&cfg.Runtime, "runtime", "capsa-runtime", "OCI runtime binary")
	fs.StringVar(&cfg.RuntimeRoot, "root", "", "the runtime's --root")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "directory for the shim's socket and exit.json")
	fs.StringVar(&cfg.Log.Path, "log-path", "", "json-file log of the container's output")
	fs.Int64Var(&cfg.Log.MaxSize, "log-max-size", 0, "rotate the log at this many bytes (0: never)")
	fs.IntVar(&cfg.Log.MaxFiles, "log-max-file", 1, "log files to keep, the live one included")
	fs.BoolVar(&cfg.Terminal, "tty", false, "the container has a terminal (process.terminal)")
	fs.BoolVar(&cfg.Stdin, "stdin", false, "keep the container's stdin open for attach")
	fs.BoolVar(&cfg.WaitStart, "wait-start", false, "create the container, then start it on a start request")
	debug := fs.Bool("debug", false, "log debug messages")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := shim.Run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "capsa-shim: %v\n", err)
		os.Exit(1)
	}
}
