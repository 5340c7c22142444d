package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
)

// ImageInfo is one image: the names that point at it and what its
// manifest for this platform says.
type ImageInfo struct {
	// ID is the digest of the image's manifest (or index).
	ID string
	// Names are the image's tags ("busybox:latest"), sorted; none for a
	// dangling image.
	Names []string
	// RepoDigests are its repo digests ("busybox@sha256:..."), sorted.
	RepoDigests []string
	Created     time.Time
	// Size is the sum of the image's compressed layers and its config.
	Size   int64
	Config ocispec.Image
	// Layers are the layers' diff IDs, bottom first, and LayerSizes their
	// blobs' (compressed) sizes.
	Layers     []string
	LayerSizes []int64
}

// Dangling reports an image without a tag (it may have repo digests):
// what images shows as <none>:<none> and image prune removes.
func (in ImageInfo) Dangling() bool { return len(in.Names) == 0 }

// Images lists the images, one entry per image ID with all its names.
func (e *Engine) Images(ctx context.Context) ([]ImageInfo, error) {
	recs, err := e.images.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string][]image.Record{}
	var order []string
	for _, r := range recs {
		id := r.Target.Digest.String()
		if _, ok := byID[id]; !ok {
			order = append(order, id)
		}
		byID[id] = append(byID[id], r)
	}
	out := make([]ImageInfo, 0, len(order))
	for _, id := range order {
		in, err := e.imageInfo(ctx, byID[id])
		if err != nil {
			e.log.Warn("list images", "image", byID[id][0].Name, "err", err)
			continue
		}
		out = append(out, in)
	}
	slices.SortStableFunc(out, func(a, b ImageInfo) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// imageInfo describes the image that the records recs (all with the same
// target) name.
func (e *Engine) imageInfo(ctx context.Context, recs []image.Record) (ImageInfo, error) {
	target := recs[0].Target
	desc, err := e.resolveTarget(ctx, target)
	if err != nil {
		return ImageInfo{}, err
	}
	img, err := image.Load(ctx, e.content, desc)
	if err != nil {
		return ImageInfo{}, err
	}
	cfg := img.Config()
	in := ImageInfo{ID: target.Digest.String(), Names: []string{}, RepoDigests: []string{}, Config: cfg, Created: recs[0].Created}
	for _, r := range recs {
		switch {
		case image.IsDangling(r.Name):
		case image.IsDigestName(r.Name):
			in.RepoDigests = append(in.RepoDigests, r.Name)
		default:
			in.Names = append(in.Names, r.Name)
		}
		if r.Created.Before(in.Created) {
			in.Created = r.Created
		}
	}
	slices.Sort(in.Names)
	slices.Sort(in.RepoDigests)
	if cfg.Created != nil {
		in.Created = *cfg.Created
	}
	in.Size = img.Manifest().Config.Size
	for _, l := range img.Layers() {
		in.Size += l.Descriptor().Size
		in.Layers = append(in.Layers, l.DiffID().String())
		in.LayerSizes = append(in.LayerSizes, l.Descriptor().Size)
	}
	return in, nil
}

// imageRecords lists the records that point at the image ID id.
func (e *Engine) imageRecords(ctx context.Context, id string) ([]image.Record, error) {
	recs, err := e.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []image.Record
	for _, r := range recs {
		if r.Target.Digest.String() == id {
			out = append(out, r)
		}
	}
	return out, nil
}

// ImageInspect returns the image named (or whose ID is) ref.
func (e *Engine) ImageInspect(ctx context.Context, ref string) (ImageInfo, error) {
	rec, err := e.findImage(ctx, ref)
	if err != nil {
		return ImageInfo{}, err
	}
	recs, err := e.imageRecords(ctx, rec.Target.Digest.String())
	if err != nil {
		return ImageInfo{}, err
	}
	if len(recs) == 0 {
		return ImageInfo{}, errdefs.NotFound(fmt.Sprintf("no such image: %s", ref))
	}
	in, err := e.imageInfo(ctx, recs)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: %w", ref, err)
	}
	return in, nil
}

// ImageDeleted is what RemoveImage did: names untagged, image IDs deleted.
type ImageDeleted struct {
	Untagged []string
	Deleted  []string
}

// repoOf is the repository of a tag or repo digest ("busybox" for
// busybox:latest and busybox@sha256:...), "" for a dangling name.
func repoOf(name string) string {
	if image.IsDangling(name) {
		return ""
	}
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	return reference.FamiliarName(n)
}

// RemoveImage removes what ref names, as docker's rmi does:
//   - a tag: that tag, and the repo digests of its repository when no
//     other tag of that repository is left on the image;
//   - a repo digest (NAME@sha256:...): that record only;
//   - an image ID (or a unique prefix of it): every name of the image
//     (a conflict, unless force, when they span repositories).
//
// The image itself (its blobs and unused layer snapshots) goes with its
// last name. An image a container uses is a conflict unless force; under
// force it is kept, dangling.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) (ImageDeleted, error) {
	rec, err := e.findImage(ctx, ref)
	if err != nil {
		return ImageDeleted{}, err
	}
	id := rec.Target.Digest.String()
	recs, err := e.imageRecords(ctx, id)
	if err != nil {
		return ImageDeleted{}, err
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	var remove []string
	if n := normalizeRef(ref); slices.Contains(names, n) && !image.IsDangling(n) {
		remove = []string{n}
		if !image.IsDigestName(n) {
			repo, otherTag := repoOf(n), false
			for _, o := range names {
				otherTag = otherTag || o != n && !image.IsDigestName(o) && repoOf(o) == repo
			}
			for _, o := range names {
				if !otherTag && image.IsDigestName(o) && repoOf(o) == repo {
					remove = append(remove, o)
				}
			}
		}
	} else {
		repos := map[string]bool{}
		for _, o := range names {
			if r := repoOf(o); r != "" {
				repos[r] = true
			}
		}
		if len(repos) > 1 && !force {
			return ImageDeleted{}, errdefs.Conflict(fmt.Sprintf("unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(strings.TrimPrefix(id, "sha256:"))))
		}
		remove = names
	}
	last := len(remove) == len(names)
	keep := false
	if last {
		e.mu.Lock()
		var users []string
		for _, c := range e.containers {
			c.mu.Lock()
			if c.rec.ImageID == id {
				users = append(users, c.rec.ID)
			}
			c.mu.Unlock()
		}
		e.mu.Unlock()
		if len(users) > 0 && !force {
			return ImageDeleted{}, errdefs.Conflict(fmt.Sprintf("unable to remove image %s (must force) - container %s is using its referenced image", ref, shortID(users[0])))
		}
		// Docker keeps a used image under force, only untagged.
		keep = len(users) > 0
	}
	if err := e.images.Remove(ctx, remove, keep); err != nil {
		return ImageDeleted{}, fmt.Errorf("remove image %s: %w", ref, err)
	}
	var out ImageDeleted
	for _, n := range remove {
		if !image.IsDangling(n) {
			out.Untagged = append(out.Untagged, n)
		}
	}
	if last && !keep {
		out.Deleted = append(out.Deleted, id)
		e.collect(ctx)
	}
	for _, n := range out.Untagged {
		e.emit(Event{Type: "image", Action: "untag", ID: id, Attributes: map[string]string{"name": n}})
	}
	for _, d := range out.Deleted {
		e.emit(Event{Type: "image", Action: "delete", ID: d, Attributes: map[string]string{"name": ref}})
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
