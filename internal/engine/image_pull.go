package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/reference"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/registry"
)

// PullProgress is one message of a pull, as docker's progress stream has
// them: a layer's step (ID is its short digest) or a line about the image
// (ID empty).
type PullProgress = registry.Progress

// PullImage fetches the image ref names ("busybox" means
// docker.io/library/busybox:latest) for this machine's platform and names
// it ref in its familiar form, with auth (nil: the daemon's keychain). progress, when set, hears of each step and
// of the final "Digest:" and "Status:" lines; it may be called from
// several goroutines at once.
func (e *Engine) PullImage(ctx context.Context, ref string, auth *RegistryAuth, progress func(PullProgress)) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("pull %s: invalid reference format: %v", ref, err))
	}
	named = reference.TagNameOnly(named)
	familiar := reference.FamiliarString(named)
	res, err := registry.Pull(ctx, e.content, named, registry.Options{
		Insecure: e.cfg.InsecureRegistries,
		Platform: image.DefaultPlatform(),
		Auth:     auth,
		Progress: progress,
	})
	if err != nil {
		return ImageRef{}, err
	}
	prev, err := e.images.Get(ctx, familiar)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
	}
	same := err == nil && prev.Target.Digest == res.Target.Digest
	if !same {
		if err := e.images.Put(ctx, familiar, res.Target); err != nil {
			return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
		}
		e.emit(Event{Type: "image", Action: "pull", ID: familiar, Attributes: map[string]string{"name": familiar}})
	}
	if progress != nil {
		progress(PullProgress{Status: "Digest: " + res.Target.Digest.String()})
		if same {
			progress(PullProgress{Status: "Status: Image is up to date for " + familiar})
		} else {
			progress(PullProgress{Status: "Status: Downloaded newer image for " + familiar})
		}
	}
	return ImageRef{Name: familiar, ID: res.Target.Digest.String()}, nil
}
