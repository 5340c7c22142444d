package engine

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/image/archive"
)

// LoadImages reads a docker-archive or OCI archive into the store and
// names its images, returning the names (an image without one is reported
// by ID and not recorded). Every image is checked in full before any name
// is recorded, so a bad archive leaves the images as they were.
func (e *Engine) LoadImages(ctx context.Context, r io.Reader) ([]string, error) {
	loaded, err := archive.Load(ctx, e.content, r, filepath.Dir(e.content.Root()))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range loaded {
		if _, err := image.Load(ctx, e.content, l.Manifest); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	for _, l := range loaded {
		if len(l.Names) == 0 {
			out = append(out, l.Manifest.Digest.String())
			continue
		}
		seen := map[string]bool{}
		for _, n := range l.Names {
			ref := normalizeRef(n)
			if seen[ref] {
				continue
			}
			seen[ref] = true
			if err := e.images.Put(ctx, ref, l.Manifest); err != nil {
				return out, fmt.Errorf("load image %q: %w", ref, err)
			}
			e.emit(Event{Type: "image", Action: "load", ID: l.Manifest.Digest.String(), Attributes: map[string]string{"name": ref}})
			out = append(out, ref)
		}
	}
	return out, nil
}
