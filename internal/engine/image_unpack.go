package engine

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/image"
)

// unpackPulled makes the layer snapshots of the image a pull stored
// (target, and its manifest for platform when it is an index): from the
// layers u extracted while they downloaded and, for the layers that were
// already in the content store, from there. A container made of the image
// then starts without unpacking anything.
func (e *Engine) unpackPulled(ctx context.Context, u *image.Unpacker, target ocispec.Descriptor, platform ocispec.Platform) error {
	desc, err := image.Resolve(ctx, e.content, target, platform)
	if err != nil {
		return err
	}
	img, err := image.Load(ctx, e.content, desc)
	if err != nil {
		return err
	}
	e.unpackMu.Lock()
	defer e.unpackMu.Unlock()
	_, err = u.Unpack(ctx, img)
	return err
}
