package engine

import (
	"context"
	"errors"
)

// PruneImages removes the images no container uses: with all, every such
// image; without, only dangling ones (no name but "<none>"). It returns
// what it removed and the bytes freed (the images' sizes).
func (e *Engine) PruneImages(ctx context.Context, all bool, labels []string) (ImageDeleted, int64, error) {
	imgs, err := e.Images(ctx)
	if err != nil {
		return ImageDeleted{}, 0, err
	}
	used := map[string]bool{}
	e.mu.Lock()
	for _, c := range e.containers {
		c.mu.Lock()
		used[c.rec.ImageID] = true
		c.mu.Unlock()
	}
	e.mu.Unlock()
	var out ImageDeleted
	var freed int64
	var errs []error
	for _, in := range imgs {
		if used[in.ID] || !MatchLabels(in.Config.Config.Labels, labels) || !all && !in.Dangling() {
			continue
		}
		res, err := e.RemoveImage(ctx, in.ID, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Untagged = append(out.Untagged, res.Untagged...)
		out.Deleted = append(out.Deleted, res.Deleted...)
		if len(res.Deleted) > 0 {
			freed += in.Size
		}
	}
	if len(out.Deleted) > 0 {
		e.emit(Event{Type: "image", Action: "prune", Attributes: map[string]string{}})
	}
	return out, freed, errors.Join(errs...)
}
