package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
)

// ImageInfo is one image: the names that point at it and what its
// manifest for this platform says.
type ImageInfo struct {
	// ID is the digest of the image's manifest (or index).
	ID      string
	Names   []string
	Created time.Time
	// Size is the sum of the image's compressed layers and its config.
	Size   int64
	Config ocispec.Image
	// Layers are the layers' diff IDs, bottom first.
	Layers []string
}

// Images lists the images, one entry per image ID with all its names.
func (e *Engine) Images(ctx context.Context) ([]ImageInfo, error) {
	recs, err := e.images.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*ImageInfo{}
	var order []string
	for _, r := range recs {
		id := r.Target.Digest.String()
		if in, ok := byID[id]; ok {
			in.Names = append(in.Names, r.Name)
			continue
		}
		in, err := e.imageInfo(ctx, r)
		if err != nil {
			e.log.Warn("list images", "image", r.Name, "err", err)
			continue
		}
		byID[id] = &in
		order = append(order, id)
	}
	out := make([]ImageInfo, 0, len(order))
	for _, id := range order {
		in := byID[id]
		slices.Sort(in.Names)
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b ImageInfo) int { return b.Created.Compare(a.Created) })
	return out, nil
}

func (e *Engine) imageInfo(ctx context.Context, r image.Record) (ImageInfo, error) {
	desc, err := image.Resolve(ctx, e.content, r.Target, image.DefaultPlatform())
	if err != nil {
		return ImageInfo{}, err
	}
	img, err := image.Load(ctx, e.content, desc)
	if err != nil {
		return ImageInfo{}, err
	}
	cfg := img.Config()
	in := ImageInfo{ID: r.Target.Digest.String(), Names: []string{r.Name}, Config: cfg, Created: r.Created}
	if cfg.Created != nil {
		in.Created = *cfg.Created
	}
	in.Size = img.Manifest().Config.Size
	for _, l := range img.Layers() {
		in.Size += l.Descriptor().Size
		in.Layers = append(in.Layers, l.DiffID().String())
	}
	return in, nil
}

// ImageInspect returns the image named (or whose ID is) ref.
func (e *Engine) ImageInspect(ctx context.Context, ref string) (ImageInfo, error) {
	iref, _, err := e.resolveImage(ctx, ref)
	if err != nil {
		return ImageInfo{}, err
	}
	all, err := e.Images(ctx)
	if err != nil {
		return ImageInfo{}, err
	}
	for _, in := range all {
		if in.ID == iref.ID {
			return in, nil
		}
	}
	return ImageInfo{}, errdefs.NotFound(fmt.Sprintf("no such image: %s", ref))
}

// ImageDeleted is what RemoveImage did: names untagged, image IDs deleted.
type ImageDeleted struct {
	Untagged []string
	Deleted  []string
}

// RemoveImage removes the name ref, or, when ref is an image ID, every
// name of that image; the image itself (its blobs and unused layer
// snapshots) goes with its last name. An image a container uses is a
// conflict unless force.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) (ImageDeleted, error) {
	iref, _, err := e.resolveImage(ctx, ref)
	if err != nil {
		return ImageDeleted{}, err
	}
	recs, err := e.images.List(ctx)
	if err != nil {
		return ImageDeleted{}, err
	}
	var names []string
	for _, r := range recs {
		if r.Target.Digest.String() == iref.ID {
			names = append(names, r.Name)
		}
	}
	remove := []string{normalizeRef(ref)}
	if !slices.Contains(names, normalizeRef(ref)) {
		// ref is the image's ID: every name goes.
		if len(names) > 1 && !force {
			return ImageDeleted{}, errdefs.Conflict(fmt.Sprintf("unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(strings.TrimPrefix(iref.ID, "sha256:"))))
		}
		remove = names
	}
	last := len(remove) == len(names)
	if last {
		e.mu.Lock()
		var users []string
		for _, c := range e.containers {
			c.mu.Lock()
			if c.rec.ImageID == iref.ID {
				users = append(users, c.rec.ID)
			}
			c.mu.Unlock()
		}
		e.mu.Unlock()
		if len(users) > 0 && !force {
			return ImageDeleted{}, errdefs.Conflict(fmt.Sprintf("unable to remove image %s (must force) - container %s is using its referenced image", ref, shortID(users[0])))
		}
		if len(users) > 0 {
			// Docker keeps a used image under force, only untagged.
			last = false
		}
	}
	var out ImageDeleted
	for _, n := range remove {
		if err := e.images.Delete(ctx, n); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return out, fmt.Errorf("remove image %s: %w", n, err)
		}
		out.Untagged = append(out.Untagged, n)
	}
	if last {
		out.Deleted = append(out.Deleted, iref.ID)
		e.collect(ctx)
	}
	for _, n := range out.Untagged {
		e.emit(Event{Type: "image", Action: "untag", ID: iref.ID, Attributes: map[string]string{"name": n}})
	}
	for _, id := range out.Deleted {
		e.emit(Event{Type: "image", Action: "delete", ID: id, Attributes: map[string]string{"name": ref}})
	}
	return out, nil
}

// collect removes blobs and layer snapshots that no image needs any more.
// A pull or import in progress is protected by a grace period.
func (e *Engine) collect(ctx context.Context) {
	e.unpackMu.Lock()
	defer e.unpackMu.Unlock()
	if _, err := image.GCSnapshots(ctx, e.content, e.images, e.snap, image.DefaultPlatform(), time.Hour); err != nil {
		e.log.Warn("gc snapshots", "err", err)
	}
	if _, err := image.GCContent(ctx, e.content, e.images, time.Minute); err != nil {
		e.log.Warn("gc content", "err", err)
	}
}
