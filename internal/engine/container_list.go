package engine

import (
	"context"
	"sort"

	"github.com/capsa-dev/capsa/internal/snapshot"
)

// List returns every container, newest first.
func (e *Engine) List(ctx context.Context) ([]Info, error) {
	e.mu.Lock()
	cs := make([]*Container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	out := make([]Info, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.info(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Inspect returns the container ref names: a full ID, a name, or a unique
// prefix of an ID (an ambiguous prefix is an invalid argument).
func (e *Engine) Inspect(ctx context.Context, ref string) (Info, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return Info{}, err
	}
	return c.info(e), nil
}

// Snapshots lists the snapshots of the engine's snapshotter (image layers
// by chain ID, containers by ID), for diagnostics.
func (e *Engine) Snapshots(ctx context.Context) ([]snapshot.Info, error) {
	var out []snapshot.Info
	err := e.snap.Walk(ctx, func(i snapshot.Info) error {
		out = append(out, i)
		return nil
	})
	return out, err
}
