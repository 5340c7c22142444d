package engine

import (
	"context"
	"fmt"

	"github.com/distribution/reference"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// TagImage names the image source (a name or an image ID) also target,
// both normalised as pull does ("busybox" is busybox:latest).
func (e *Engine) TagImage(ctx context.Context, source, target string) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("tag %s: invalid reference format: %v", target, err))
	}
	if _, ok := named.(reference.Digested); ok {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("tag %s: refusing to create a tag with a digest reference", target))
	}
	familiar := reference.FamiliarString(reference.TagNameOnly(named))
	src, _, err := e.resolveImage(ctx, source)
	if err != nil {
		return ImageRef{}, err
	}
	rec, err := e.images.Get(ctx, src.Name)
	if err != nil {
		return ImageRef{}, fmt.Errorf("tag %s: %w", source, err)
	}
	if err := e.images.Put(ctx, familiar, rec.Target); err != nil {
		return ImageRef{}, fmt.Errorf("tag %s as %s: %w", source, familiar, err)
	}
	e.emit(Event{Type: "image", Action: "tag", ID: rec.Target.Digest.String(), Attributes: map[string]string{"name": familiar}})
	return ImageRef{Name: familiar, ID: rec.Target.Digest.String()}, nil
}
