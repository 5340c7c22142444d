package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Stats returns the container's resource usage, as its runtime reports it
// (runc's `events --stats`, which every runc-compatible runtime has).
func (e *Engine) Stats(ctx context.Context, ref string) (cgroup.Stats, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return cgroup.Stats{}, err
	}
	c.mu.Lock()
	id, st, rt := c.rec.ID, c.rec.State.Status, c.rec.Runtime
	c.mu.Unlock()
	if st != StatusRunning && st != StatusPaused {
		return cgroup.Stats{}, errdefs.Conflict(fmt.Sprintf("stats of container %s: container is %s, not running", shortID(id), st))
	}
	out, err := execRuntime(ctx, e.runtimePath(rt), "--root", e.runtimeRoot(rt), "events", "--stats", id)
	if err != nil {
		return cgroup.Stats{}, fmt.Errorf("stats of container %s: %s: %w", shortID(id), strings.TrimSpace(string(out)), err)
	}
	var ev struct {
		Data cgroup.Stats `json:"data"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		return cgroup.Stats{}, fmt.Errorf("stats of container %s: runtime events: %w", shortID(id), err)
	}
	return ev.Data, nil
}
