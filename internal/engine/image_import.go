package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
)

// ImageRef names an image in the engine: its reference and the digest of
// its manifest (the image ID).
type ImageRef struct {
	Name string
	ID   string
}

// normalizeRef gives the name an image is stored under: the familiar
// form of the normalised reference with the tag "latest" when it has no
// tag or digest, as docker shows names (busybox, docker.io/busybox and
// docker.io/library/busybox:latest are all "busybox:latest";
// 127.0.0.1:5000/x is "127.0.0.1:5000/x:latest"). A string that is not
// a reference (an image ID) only gets the tag.
func normalizeRef(name string) string {
	if n, err := reference.ParseNormalizedNamed(name); err == nil {
		if d, ok := n.(reference.Digested); ok {
			// name:tag@digest is name@digest, as docker reads it.
			if c, err := reference.WithDigest(reference.TrimNamed(n), d.Digest()); err == nil {
				return reference.FamiliarString(c)
			}
		}
		return reference.FamiliarString(reference.TagNameOnly(n))
	}
	if strings.Contains(name, "@") {
		return name
	}
	if i := strings.LastIndex(name, ":"); i < 0 || strings.Contains(name[i:], "/") {
		return name + ":latest"
	}
	return name
}

// ImportImage stores the uncompressed root filesystem tar as a one-layer
// image with config cfg and names it name ("busybox" means
// "busybox:latest"); without a name the image is kept dangling.
func (e *Engine) ImportImage(ctx context.Context, name string, rootfsTar io.Reader, cfg ocispec.ImageConfig) (ImageRef, error) {
	ref := ""
	if name != "" {
		ref = normalizeRef(name)
	}
	desc, err := image.ImportRootfs(ctx, e.content, rootfsTar, image.ImportOptions{Config: cfg})
	if err != nil {
		return ImageRef{}, fmt.Errorf("import image %q: %w", ref, err)
	}
	if err := e.nameImage(ctx, ref, desc); err != nil {
		return ImageRef{}, fmt.Errorf("import image %q: %w", ref, err)
	}
	e.emit(Event{Type: "image", Action: "import", ID: desc.Digest.String(), Attributes: map[string]string{"name": ref}})
	return ImageRef{Name: ref, ID: desc.Digest.String()}, nil
}

// nameImage records target under name (a tag or a repo digest), keeping
// the image the name moves away from as dangling when nothing else names
// it; an empty name keeps target dangling unless it has a name already.
func (e *Engine) nameImage(ctx context.Context, name string, target ocispec.Descriptor) error {
	if name == "" {
		_, err := e.images.PutDangling(ctx, target)
		return err
	}
	_, err := e.images.Tag(ctx, name, target)
	return err
}

// findImage returns the record ref names: a tag, a repo digest, or an
// image ID (sha256:hex, hex, or a prefix of hex that only one image has).
// For an ID it prefers a tag's record, then a repo digest's.
func (e *Engine) findImage(ctx context.Context, ref string) (image.Record, error) {
	rec, err := e.images.Get(ctx, normalizeRef(ref))
	if err == nil && !image.IsDangling(rec.Name) {
		return rec, nil
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return image.Record{}, fmt.Errorf("image %q: %w", ref, err)
	}
	hex := strings.TrimPrefix(ref, "sha256:")
	if hex == "" || strings.Trim(hex, "0123456789abcdef") != "" {
		return image.Record{}, errdefs.NotFound(fmt.Sprintf("no such image: %s", ref))
	}
	recs, err := e.images.List(ctx)
	if err != nil {
		return image.Record{}, fmt.Errorf("image %q: %w", ref, err)
	}
	var found *image.Record
	rank := func(n string) int {
		switch {
		case image.IsDangling(n):
			return 2
		case image.IsDigestName(n):
			return 1
		}
		return 0
	}
	for i, r := range recs {
		enc := r.Target.Digest.Encoded()
		if !strings.HasPrefix(enc, hex) || r.Target.Digest.Algorithm() != "sha256" {
			continue
		}
		if found != nil && found.Target.Digest != r.Target.Digest {
			return image.Record{}, errdefs.Invalid(fmt.Sprintf("image %q: ambiguous: more than one image ID starts with it", ref))
		}
		if found == nil || rank(r.Name) < rank(found.Name) {
			found = &recs[i]
		}
	}
	if found == nil {
		return image.Record{}, errdefs.NotFound(fmt.Sprintf("no such image: %s", ref))
	}
	return *found, nil
}

// resolveTarget finds the manifest of target for this machine's
// platform or, when target is an index whose manifest for this platform
// was never fetched (a pull with --platform), for the first platform in
// it whose manifest is in the content store.
func (e *Engine) resolveTarget(ctx context.Context, target ocispec.Descriptor) (ocispec.Descriptor, error) {
	desc, err := image.Resolve(ctx, e.content, target, image.DefaultPlatform())
	if err == nil {
		if _, serr := e.content.Info(ctx, desc.Digest); serr == nil {
			return desc, nil
		}
	}
	b, rerr := e.content.ReadAll(ctx, target.Digest, 4<<20)
	if rerr != nil {
		return desc, err
	}
	var idx ocispec.Index
	if json.Unmarshal(b, &idx) != nil {
		return desc, err
	}
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		if _, serr := e.content.Info(ctx, m.Digest); serr == nil {
			if d, perr := image.Resolve(ctx, e.content, m, *m.Platform); perr == nil {
				return d, nil
			}
		}
	}
	if err == nil {
		err = errdefs.NotFound(fmt.Sprintf("index %s: no manifest of any platform is present", target.Digest))
	}
	return desc, err
}

// resolveImage loads the image named ref (or whose ID is ref).
func (e *Engine) resolveImage(ctx context.Context, ref string) (ImageRef, image.Image, error) {
	rec, err := e.findImage(ctx, ref)
	if err != nil {
		return ImageRef{}, nil, err
	}
	desc, err := e.resolveTarget(ctx, rec.Target)
	if err != nil {
		return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img, err := image.Load(ctx, e.content, desc)
	if err != nil {
		return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	return ImageRef{Name: rec.Name, ID: rec.Target.Digest.String()}, img, nil
}
