// Command capsa-runtime is capsa's OCI runtime, a drop-in for runc.
package main

import (
	"os"
	"runtime/debug"

	_ "github.com/capsa-dev/capsa/internal/nsenter" // the C stage, before the Go runtime
	"github.com/capsa-dev/capsa/internal/runtime"
	"github.com/capsa-dev/capsa/internal/runtimecli"
)

func main() {
	// Every command but events is short-lived or allocates next to nothing
	// once its container runs: collecting garbage is wasted start-up time
	// (about 3 ms of CPU per run measured here). The memory limit turns
	// the collector back on should a process ever grow that far.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(64 << 20)
	if runtime.IsInit() {
		runtime.Init() // does not return
	}
	os.Exit(runtimecli.Main(os.Args))
}
