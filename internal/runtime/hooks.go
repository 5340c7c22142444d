package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// stateForHooks is the OCI state a hook reads on stdin.
type stateForHooks struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid,omitempty"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// runHooks runs hooks in order with the state on stdin; the first failure
// stops the sequence. kind names the hook list in errors.
func runHooks(ctx context.Context, kind string, hooks []config.Hook, st any) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(ctx, h, state); err != nil {
			return fmt.Errorf("%s hook %d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// runHooksWarn runs every hook in order, whatever the others do, and
// logs each failure as a warning: the spec's rule for poststart and
// poststop hooks ("the remaining hooks and lifecycle continue").
func runHooksWarn(ctx context.Context, kind, id string, hooks []config.Hook, st any) {
	if len(hooks) == 0 {
		return
	}
	state, err := json.Marshal(st)
	if err != nil {
		slog.WarnContext(ctx, kind+" hooks not run", "container", id, "error", err)
		return
	}
	for i, h := range hooks {
		if err := runHook(ctx, h, state); err != nil {
			slog.WarnContext(ctx, kind+" hook failed", "container", id, "hook", i, "path", h.Path, "error", err)
		}
	}
}

func runHook(ctx context.Context, h config.Hook, state []byte) error {
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %ds", h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			if len(msg) > 512 {
				msg = msg[len(msg)-512:]
			}
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// specState converts an OCI state for hooks run by the runtime.
func specState(c *Container, status string, pid int) stateForHooks {
	return stateForHooks{
		Version: c.state.OCIVersion, ID: c.id, Status: status, Pid: pid,
		Bundle: c.state.Bundle, Annotations: c.state.Annotations,
	}
}
