package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

// UpdateOptions change a container's limits and restart policy (docker
// update).
type UpdateOptions struct {
	// SpecOpts change linux.resources of the container's spec.
	SpecOpts []oci.SpecOpt
	// Restart replaces the restart policy (nil: unchanged).
	Restart *RestartPolicy
	// Extensions replace the front door's (nil: unchanged).
	Extensions map[string]json.RawMessage
}

// Update applies o: the new limits go into the container's config.json,
// for its next starts, and, if it runs, to its cgroups through the
// runtime's update. Nothing changes if either fails.
func (e *Engine) Update(ctx context.Context, ref string, o UpdateOptions) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, st, auto, rt := c.rec.ID, c.rec.State.Status, c.rec.AutoRemove, c.rec.Runtime
	c.mu.Unlock()
	fail := func(err error) error { return fmt.Errorf("update container %s: %w", shortID(id), err) }
	if o.Restart != nil {
		if err := o.Restart.validate(); err != nil {
			return fail(err)
		}
		if auto && o.Restart.Name != "" && o.Restart.Name != RestartNo {
			return errdefs.Invalid(fmt.Sprintf("update container %s: restart policy cannot be updated because AutoRemove is enabled for the container", shortID(id)))
		}
	}
	if st == StatusRemoving || st == StatusDead {
		return errdefs.Conflict(fmt.Sprintf("update container %s: container is %s", shortID(id), st))
	}
	path := filepath.Join(e.bundleDir(id), "config.json")
	old, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(old, &s); err != nil {
		return fail(err)
	}
	for _, opt := range o.SpecOpts {
		if err := opt(ctx, &s); err != nil {
			return fail(err)
		}
	}
	if err := oci.CheckResources(&s); err != nil {
		return fail(err)
	}
	data, err := json.MarshalIndent(&s, "", "\t")
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fail(err)
	}
	if (st == StatusRunning || st == StatusPaused) && len(o.SpecOpts) > 0 && s.Linux != nil && s.Linux.Resources != nil {
		if err := e.runtimeUpdate(ctx, id, rt, s.Linux.Resources); err != nil {
			_ = atomicfile.Write(path, old, 0o600)
			return fail(err)
		}
	}
	c.mu.Lock()
	rec := c.rec
	if o.Restart != nil {
		rec.Restart = *o.Restart
	}
	if o.Extensions != nil {
		rec.Extensions = o.Extensions
	}
	err = e.save(rec)
	if err == nil {
		c.rec = rec
	}
	c.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	e.emit(Event{Type: "container", Action: "update", ID: id})
	return nil
}

// runtimeUpdate sets the running container's limits through its runtime
// (runc's update --resources).
func (e *Engine) runtimeUpdate(ctx context.Context, id, rt string, r *specs.LinuxResources) error {
	f, err := os.CreateTemp(e.stateDir(id), "resources-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := execRuntime(ctx, e.runtimePath(rt), "--root", e.runtimeRoot(rt), "update", "--resources", f.Name(), id)
	if err != nil {
		return fmt.Errorf("runtime update: %s: %w", strings.TrimSpace(string(out)), err)
	}
	return nil
}
