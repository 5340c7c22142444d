package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Push uploads the image target (a manifest or an index) from cs to the
// repository and tag ref names: blobs first (those the registry has, by a
// HEAD, are skipped), then manifests, the tag last. An index is pushed
// whole when all its manifests are in cs, otherwise only the manifest for
// opts.Platform is (as docker does). It returns the descriptor the tag
// names.
func Push(ctx context.Context, cs *content.Store, ref reference.NamedTagged, target ocispec.Descriptor, opts Options) (ocispec.Descriptor, error) {
	p := &pusher{cs: cs, opts: opts}
	if p.opts.Platform.OS == "" {
		p.opts.Platform = ocispec.Platform{OS: "linux", Architecture: defaultArch()}
	}
	desc, err := p.push(ctx, ref, target)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", reference.FamiliarString(ref), err)
	}
	return desc, nil
}

type pusher struct {
	cs    *content.Store
	opts  Options
	repo  name.Repository
	ropts []remote.Option
}

func (p *pusher) progress(pr Progress) {
	if p.opts.Progress != nil {
		p.opts.Progress(pr)
	}
}

func (p *pusher) push(ctx context.Context, ref reference.NamedTagged, target ocispec.Descriptor) (ocispec.Descriptor, error) {
	repo, ropts, err := remoteOptions(ctx, ref, p.opts)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	p.repo, p.ropts = repo, ropts
	p.progress(Progress{Status: "The push refers to repository [" + reference.Domain(ref) + "/" + reference.Path(ref) + "]"})
	tag := repo.Tag(ref.Tag())

	if !isIndex(target.MediaType) {
		return target, p.pushManifest(ctx, target, tag)
	}
	b, err := p.cs.ReadAll(ctx, target.Digest, maxManifestSize)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", target.Digest, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("index %s: %v", target.Digest, err))
	}
	whole := true
	for _, m := range idx.Manifests {
		if _, err := p.cs.Info(ctx, m.Digest); err != nil || isIndex(m.MediaType) {
			whole = false
		}
	}
	if !whole {
		child, ok := pick(idx.Manifests, p.opts.Platform)
		if !ok || isIndex(child.MediaType) {
			return ocispec.Descriptor{}, errdefs.NotFound(fmt.Sprintf("index %s: no manifest for %s", target.Digest, platformString(p.opts.Platform)))
		}
		return child, p.pushManifest(ctx, child, tag)
	}
	for _, m := range idx.Manifests {
		if err := p.pushManifest(ctx, m, repo.Digest(m.Digest.String())); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := remote.Put(tag, rawManifest{b: b, mt: target.MediaType}, p.ropts...); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", target.Digest, classify(err))
	}
	return target, nil
}

// pushManifest uploads a manifest's config and layers, a few at a time,
// then the manifest under to (a tag or its digest).
func (p *pusher) pushManifest(ctx context.Context, desc ocispec.Descriptor, to name.Reference) error {
	b, err := p.cs.ReadAll(ctx, desc.Digest, maxManifestSize)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return errdefs.Invalid(fmt.Sprintf("manifest %s: %v", desc.Digest, err))
	}
	for _, l := range m.Layers {
		p.progress(Progress{ID: shortDigest(l.Digest), Status: "Preparing"})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		g.Go(func() error { return p.pushBlob(gctx, d, i > 0) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := remote.Put(to, rawManifest{b: b, mt: desc.MediaType}, p.ropts...); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, classify(err))
	}
	return nil
}

// pushBlob uploads one blob unless the registry has it; a layer's
// progress says which.
func (p *pusher) pushBlob(ctx context.Context, d ocispec.Descriptor, isLayer bool) error {
	what := "config"
	if isLayer {
		what = "layer"
	}
	if _, err := p.cs.Info(ctx, d.Digest); err != nil {
		return fmt.Errorf("%s %s: %w", what, d.Digest, err)
	}
	id := shortDigest(d.Digest)
	l := &storeLayer{ctx: ctx, cs: p.cs, desc: d}
	if isLayer {
		l.report = func(n int64) {
			p.progress(Progress{ID: id, Status: "Pushing", Current: n, Total: d.Size})
		}
	}
	if err := remote.WriteLayer(p.repo, l, append(p.ropts, remote.WithContext(ctx))...); err != nil {
		return fmt.Errorf("%s %s: %w", what, d.Digest, classify(err))
	}
	if isLayer {
		if l.opened.Load() {
			p.progress(Progress{ID: id, Status: "Pushed"})
		} else {
			p.progress(Progress{ID: id, Status: "Layer already exists"})
		}
	}
	return nil
}

// storeLayer is a blob of the content store as go-containerregistry's
// v1.Layer, as stored (compressed). opened records whether the uploader
// read it, which it does only when the registry lacks the blob.
type storeLayer struct {
	ctx    context.Context
	cs     *content.Store
	desc   ocispec.Descriptor
	report func(int64)
	opened atomic.Bool
}

func (l *storeLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.desc.Digest.String()) }
func (l *storeLayer) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diff id of a stored blob is not known")
}
func (l *storeLayer) Size() (int64, error) { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.desc.MediaType), nil
}
func (l *storeLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("uncompressed stored blob is not available")
}

func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	ra, err := l.cs.ReaderAt(l.ctx, l.desc.Digest)
	if err != nil {
		return nil, err
	}
	l.opened.Store(true)
	var r io.Reader = io.NewSectionReader(ra, 0, ra.Size())
	if l.report != nil {
		r = &progressReader{r: r, total: l.desc.Size, report: l.report}
	}
	return struct {
		io.Reader
		io.Closer
	}{r, ra}, nil
}

// rawManifest is a stored manifest or index as go-containerregistry's
// Taggable, with its media type as the Content-Type.
type rawManifest struct {
	b  []byte
	mt string
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.MediaType(r.mt), nil }
