package engine

import (
	"context"
	"fmt"

	"github.com/distribution/reference"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/registry"
)

// RegistryAuth are a client's credentials for a registry (docker's
// X-Registry-Auth); empty ones mean the daemon's own (~/.docker/config.json).
type RegistryAuth = registry.Auth

// PushImage uploads the image ref names ("busybox" is
// docker.io/library/busybox:latest) to its registry. progress, when set,
// hears of each step, ending with docker's "TAG: digest: D size: N"; it
// may be called from several goroutines at once. The image gets the repo
// digest NAME@D.
func (e *Engine) PushImage(ctx context.Context, ref string, auth *RegistryAuth, progress func(PullProgress)) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("push %s: invalid reference format: %v", ref, err))
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("push %s: a digest reference cannot be pushed", ref))
	}
	familiar := reference.FamiliarString(tagged)
	rec, err := e.images.Get(ctx, familiar)
	if err != nil {
		return ImageRef{}, fmt.Errorf("push %s: %w", familiar, err)
	}
	desc, err := registry.Push(ctx, e.content, tagged, rec.Target, registry.Options{
		Insecure: e.cfg.InsecureRegistries,
		Platform: image.DefaultPlatform(),
		Auth:     auth,
		Progress: progress,
	})
	if err != nil {
		return ImageRef{}, err
	}
	if err := e.recordRepoDigest(ctx, tagged, desc.Digest, rec.Target); err != nil {
		return ImageRef{}, fmt.Errorf("push %s: %w", familiar, err)
	}
	if progress != nil {
		progress(PullProgress{Status: fmt.Sprintf("%s: digest: %s size: %d", tagged.Tag(), desc.Digest, desc.Size)})
	}
	e.emit(Event{Type: "image", Action: "push", ID: familiar, Attributes: map[string]string{"name": familiar}})
	return ImageRef{Name: familiar, ID: desc.Digest.String()}, nil
}

// LoginRegistry checks auth against the registry at server (a host[:port]
// or a URL; empty: docker.io).
func (e *Engine) LoginRegistry(ctx context.Context, server string, auth RegistryAuth) error {
	return registry.Login(ctx, registry.HostOf(server), auth, registry.Options{Insecure: e.cfg.InsecureRegistries})
}
