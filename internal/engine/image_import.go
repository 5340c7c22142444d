package engine

import (
	"context"
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
// "busybox:latest").
func (e *Engine) ImportImage(ctx context.Context, name string, rootfsTar io.Reader, cfg ocispec.ImageConfig) (ImageRef, error) {
	if name == "" {
		return ImageRef{}, errdefs.Invalid("import image: empty name")
	}
	ref := normalizeRef(name)
	desc, err := image.ImportRootfs(ctx, e.content, rootfsTar, image.ImportOptions{Config: cfg})
	if err != nil {
		return ImageRef{}, fmt.Errorf("import image %q: %w", ref, err)
	}
	if err := e.images.Put(ctx, ref, desc); err != nil {
		return ImageRef{}, fmt.Errorf("import image %q: %w", ref, err)
	}
	e.emit(Event{Type: "image", Action: "import", ID: desc.Digest.String(), Attributes: map[string]string{"name": ref}})
	return ImageRef{Name: ref, ID: desc.Digest.String()}, nil
}

// resolveImage loads the image named ref (or whose ID is ref).
func (e *Engine) resolveImage(ctx context.Context, ref string) (ImageRef, image.Image, error) {
	name := normalizeRef(ref)
	rec, err := e.images.Get(ctx, name)
	if err != nil {
		if !errors.Is(err, errdefs.ErrNotFound) {
			return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, err)
		}
		// An image ID (or its hex part).
		recs, lerr := e.images.List(ctx)
		if lerr != nil {
			return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, lerr)
		}
		found := false
		for _, r := range recs {
			d := r.Target.Digest.String()
			if d == ref || r.Target.Digest.Encoded() == ref {
				rec, found = r, true
				break
			}
		}
		if !found {
			return ImageRef{}, nil, errdefs.NotFound(fmt.Sprintf("no such image: %s", ref))
		}
	}
	desc, err := image.Resolve(ctx, e.content, rec.Target, image.DefaultPlatform())
	if err != nil {
		return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img, err := image.Load(ctx, e.content, desc)
	if err != nil {
		return ImageRef{}, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	return ImageRef{Name: rec.Name, ID: rec.Target.Digest.String()}, img, nil
}
