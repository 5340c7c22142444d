package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Top lists the container's processes as the host's ps(1) sees them with
// psArgs ("": -ef), as docker top does: Titles are ps's header, each of
// Processes one row of its output.
func (e *Engine) Top(ctx context.Context, ref, psArgs string) (titles []string, procs [][]string, err error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	id, st, rt := c.rec.ID, c.rec.State.Status, c.rec.Runtime
	c.mu.Unlock()
	if st != StatusRunning && st != StatusPaused {
		return nil, nil, errdefs.Conflict(fmt.Sprintf("Container %s is not running", id))
	}
	out, err := execRuntime(ctx, e.runtimePath(rt), "--root", e.runtimeRoot(rt), "ps", "--format", "json", id)
	if err != nil {
		return nil, nil, fmt.Errorf("top of container %s: %s: %w", shortID(id), strings.TrimSpace(string(out)), err)
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, nil, fmt.Errorf("top of container %s: runtime ps: %w", shortID(id), err)
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	psOut, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, nil, errdefs.Invalid(fmt.Sprintf("top of container %s: ps %s: %v", shortID(id), psArgs, err))
	}
	lines := strings.Split(strings.TrimRight(string(psOut), "\n"), "\n")
	titles = strings.Fields(lines[0])
	pidCol := slices.Index(titles, "PID")
	if pidCol < 0 {
		return nil, nil, errdefs.Invalid(fmt.Sprintf("top of container %s: ps %s: its output has no PID column", shortID(id), psArgs))
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !slices.Contains(pids, pid) {
			continue
		}
		// The last column (the command) may hold spaces.
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		procs = append(procs, f)
	}
	return titles, procs, nil
}
