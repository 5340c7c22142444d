package engine

import (
	"context"
	"errors"
	"strings"
	"time"
)

// PruneFilter selects the containers Prune removes: stopped ones, created
// before Until (zero: any time) and carrying every label of Labels
// ("key" or "key=value"), none of LabelsNot.
type PruneFilter struct {
	Until     time.Time
	Labels    []string
	LabelsNot []string
}

// Prune removes every stopped (created, exited or dead) container that
// matches f and returns their IDs.
func (e *Engine) Prune(ctx context.Context, f PruneFilter) ([]string, error) {
	infos, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, in := range infos {
		if in.State.Status.Running() || in.State.Status == StatusRemoving {
			continue
		}
		if !f.Until.IsZero() && !in.Created.Before(f.Until) {
			continue
		}
		if !MatchLabels(in.Labels, f.Labels) || (len(f.LabelsNot) > 0 && matchAnyLabel(in.Labels, f.LabelsNot)) {
			continue
		}
		if err := e.Remove(ctx, in.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, in.ID)
	}
	if len(removed) > 0 {
		e.emit(Event{Type: "container", Action: "prune", Attributes: map[string]string{}})
	}
	return removed, errors.Join(errs...)
}

// MatchLabels reports whether labels has every one of want ("key" or
// "key=value").
func MatchLabels(labels map[string]string, want []string) bool {
	for _, w := range want {
		k, v, hasV := cutLabel(w)
		got, ok := labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

func matchAnyLabel(labels map[string]string, list []string) bool {
	for _, w := range list {
		if MatchLabels(labels, []string{w}) {
			return true
		}
	}
	return false
}

func cutLabel(s string) (k, v string, hasV bool) { return strings.Cut(s, "=") }
