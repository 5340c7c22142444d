package engine

import (
	"context"
	"os/exec"
)

// execRuntime runs the OCI runtime binary with args and returns its
// combined output.
func execRuntime(ctx context.Context, bin string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, bin, args...).CombinedOutput()
}
