// Command capsa-runtime is capsa's OCI runtime, a drop-in for runc.
package main

import (
	"os"

	_ "github.com/capsa-dev/capsa/internal/nsenter" // the C stage, before the Go runtime
	"github.com/capsa-dev/capsa/internal/runtime"
	"github.com/capsa-dev/capsa/internal/runtimecli"
)

func main() {
	if runtime.IsInit() {
		runtime.Init() // does not return
	}
	os.Exit(runtimecli.Main(os.Args))
}
