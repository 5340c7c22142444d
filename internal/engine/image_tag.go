package engine

import (
	"context"
	"fmt"

	"github.com/distribution/reference"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// TagImage names the image source (a name or an image ID) also target,
// both normalised as pull does ("busybox" is busybox:latest). The image
// target named before is kept, dangling, if nothing else names it.
func (e *Engine) TagImage(ctx context.Context, source, target string) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("tag %s: invalid reference format: %v", target, err))
	}
	if _, ok := named.(reference.Digested); ok {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("tag %s: refusing to create a tag with a digest reference", target))
	}
	familiar := reference.FamiliarString(reference.TagNameOnly(named))
	rec, err := e.findImage(ctx, source)
	if err != nil {
		return ImageRef{}, err
	}
	// A tag that moves keeps the image it named (dangling, when nothing
	// else names it); a dangling source loses its dangling record.
	if err := e.nameImage(ctx, familiar, rec.Target); err != nil {
		return ImageRef{}, fmt.Errorf("tag %s as %s: %w", source, familiar, err)
	}
	e.emit(Event{Type: "image", Action: "tag", ID: rec.Target.Digest.String(), Attributes: map[string]string{"name": familiar}})
	return ImageRef{Name: familiar, ID: rec.Target.Digest.String()}, nil
}
