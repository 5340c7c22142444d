package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// GCContent removes the blobs that no image record reaches (through
// indexes, manifests, configs and layers) and that are older than grace,
// and the ingests untouched for grace. The grace period is what protects a
// pull in progress, whose blobs land before its record: make it longer
// than a pull.
func GCContent(ctx context.Context, cs *content.Store, images *Store, grace time.Duration) ([]digest.Digest, error) {
	recs, err := images.List(ctx)
	if err != nil {
		return nil, err
	}
	live := map[digest.Digest]bool{}
	for _, r := range recs {
		if err := mark(ctx, cs, r.Target, live, 0); err != nil {
			return nil, fmt.Errorf("gc: image %q: %w", r.Name, err)
		}
	}
	cutoff := time.Now().Add(-grace)
	var dead []digest.Digest
	if err := cs.Walk(ctx, func(i content.Info) error {
		if !live[i.Digest] && i.CreatedAt.Before(cutoff) {
			dead = append(dead, i.Digest)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var removed []digest.Digest
	for _, d := range dead {
		if err := cs.Delete(ctx, d); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return removed, fmt.Errorf("gc: %w", err)
		}
		removed = append(removed, d)
	}
	if _, err := cs.CleanIngests(ctx, grace); err != nil {
		return removed, fmt.Errorf("gc: %w", err)
	}
	return removed, nil
}

// mark adds desc and what it references to live. A blob that is not in the
// store (a platform never pulled) ends the walk there.
func mark(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, live map[digest.Digest]bool, depth int) error {
	if live[desc.Digest] {
		return nil
	}
	live[desc.Digest] = true
	var children []ocispec.Descriptor
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		if depth >= maxIndexDepth {
			return errdefs.Invalid(fmt.Sprintf("index %s: nested more than %d deep", desc.Digest, maxIndexDepth))
		}
		var idx ocispec.Index
		if err := readJSON(ctx, cs, desc, maxIndexSize, &idx); err != nil {
			return err
		}
		children = idx.Manifests
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		var m ocispec.Manifest
		if err := readJSON(ctx, cs, desc, maxManifestSize, &m); err != nil {
			return err
		}
		children = append([]ocispec.Descriptor{m.Config}, m.Layers...)
	}
	for _, c := range children {
		if err := mark(ctx, cs, c, live, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// readJSON reads a bounded JSON blob; a missing blob leaves v as it is.
func readJSON(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, limit int64, v any) error {
	b, err := cs.ReadAll(ctx, desc.Digest, limit)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.Invalid(fmt.Sprintf("%s %s: %v", desc.MediaType, desc.Digest, err))
	}
	return nil
}

// GCSnapshots removes the committed layer snapshots (named by chain ID)
// that no image record's platform manifest needs and that no other snapshot
// (a container's, a newer layer's) stands on, and the extraction snapshots
// of unpacks that died (a crash, a kill) older than grace, and returns
// their names.
func GCSnapshots(ctx context.Context, cs *content.Store, images *Store, sn snapshot.Snapshotter, platform ocispec.Platform, grace time.Duration) ([]string, error) {
	recs, err := images.List(ctx)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, r := range recs {
		desc, err := Resolve(ctx, cs, r.Target, platform)
		if err != nil {
			continue // nothing of this image for this platform is unpacked
		}
		img, err := Load(ctx, cs, desc)
		if err != nil {
			continue
		}
		ids := img.Config().RootFS.DiffIDs
		for i := range ids {
			keep[identity.ChainID(ids[:i+1]).String()] = true
		}
	}
	cutoff := time.Now().Add(-grace)
	var removed []string
	// Leaves first: each pass removes what has no children now.
	for {
		var candidates []string
		if err := sn.Walk(ctx, func(i snapshot.Info) error {
			switch {
			case i.Kind == snapshot.KindCommitted && strings.HasPrefix(i.Name, "sha256:") && !keep[i.Name]:
				candidates = append(candidates, i.Name)
			case i.Kind == snapshot.KindActive && strings.HasPrefix(i.Name, extractPrefix) && i.Created.Before(cutoff):
				candidates = append(candidates, i.Name)
			}
			return nil
		}); err != nil {
			return removed, err
		}
		progress := false
		for _, name := range candidates {
			err := sn.Remove(ctx, name)
			switch {
			case err == nil:
				removed = append(removed, name)
				progress = true
			case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrNotFound):
			default:
				return removed, fmt.Errorf("gc: %w", err)
			}
		}
		if !progress {
			return removed, nil
		}
	}
}
