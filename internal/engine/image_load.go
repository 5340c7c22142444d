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
// names its images, returning the names. An image without one is reported
// by ID and kept dangling unless it has a name already; an image a loaded
// name moves away from is kept dangling if nothing else names it. Every
// image is checked in full before any name is recorded, so a bad archive
// leaves the images as they were.
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
			if err := e.nameImage(ctx, "", l.Manifest); err != nil {
				return out, fmt.Errorf("load image %s: %w", l.Manifest.Digest, err)
			}
			e.emit(Event{Type: "image", Action: "load", ID: l.Manifest.Digest.String(), Attributes: map[string]string{}})
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
			if err := e.nameImage(ctx, ref, l.Manifest); err != nil {
				return out, fmt.Errorf("load image %q: %w", ref, err)
			}
			e.emit(Event{Type: "image", Action: "load", ID: l.Manifest.Digest.String(), Attributes: map[string]string{"name": ref}})
			out = append(out, ref)
		}
	}
	return out, nil
}
