package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Bounds on what Load accepts.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 8 << 20
	maxLayers       = 128 // overlayfs stacks at most 500 lowers; real images stay far below
)

// Image is an image read from a content store. It is immutable: a change
// (a new layer, a new config) makes a new image.
type Image interface {
	// Descriptor is the manifest's descriptor.
	Descriptor() ocispec.Descriptor
	Manifest() ocispec.Manifest
	Config() ocispec.Image
	Layers() []Layer
	// ChainID is the chain ID of the whole layer stack: the name of the
	// committed snapshot Unpack makes for the top layer.
	ChainID() digest.Digest
}

// Layer is one layer of an image.
type Layer interface {
	// Descriptor is the (usually compressed) blob's descriptor.
	Descriptor() ocispec.Descriptor
	// DiffID is the digest of the uncompressed tar.
	DiffID() digest.Digest
	// Uncompressed opens the layer's tar. The reader fails at EOF if the
	// bytes do not match DiffID, so a caller must read to EOF before
	// trusting what it made.
	Uncompressed(ctx context.Context) (io.ReadCloser, error)
}

type image struct {
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	config   ocispec.Image
	layers   []Layer
}

func (i *image) Descriptor() ocispec.Descriptor { return i.desc }
func (i *image) Manifest() ocispec.Manifest     { return i.manifest }
func (i *image) Config() ocispec.Image          { return i.config }
func (i *image) Layers() []Layer                { return append([]Layer(nil), i.layers...) }
func (i *image) ChainID() digest.Digest         { return identity.ChainID(i.config.RootFS.DiffIDs) }

type layer struct {
	cs     *content.Store
	desc   ocispec.Descriptor
	diffID digest.Digest
}

func (l *layer) Descriptor() ocispec.Descriptor { return l.desc }
func (l *layer) DiffID() digest.Digest          { return l.diffID }

func (l *layer) Uncompressed(ctx context.Context) (io.ReadCloser, error) {
	ra, err := l.cs.ReaderAt(ctx, l.desc.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := uncompressed(l.desc, l.diffID, io.NewSectionReader(ra, 0, ra.Size()))
	if err != nil {
		ra.Close()
		return nil, err
	}
	rc.(*verifyReader).closers = append(rc.(*verifyReader).closers, ra)
	return rc, nil
}

// uncompressed returns the tar of the layer desc, whose compressed bytes
// r yields (gzip, zstd or none, as its media type says), checked against
// diffID at EOF.
func uncompressed(desc ocispec.Descriptor, diffID digest.Digest, r io.Reader) (io.ReadCloser, error) {
	v := &verifyReader{v: diffID.Verifier(), want: diffID}
	switch desc.MediaType {
	case ocispec.MediaTypeImageLayerGzip, mediaTypeDockerLayerGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		v.r = zr
		v.closers = append(v.closers, zr)
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		v.r = zr
		v.closers = append(v.closers, closerFunc(func() error { zr.Close(); return nil }))
	case ocispec.MediaTypeImageLayer, mediaTypeDockerLayer:
		v.r = r
	default:
		return nil, errdefs.NotImplemented(fmt.Sprintf("layer %s: media type %q not supported", desc.Digest, desc.MediaType))
	}
	return v, nil
}

// maxZstdWindow bounds the memory a zstd layer may make the decoder take
// (zstd's own default is 512 MiB; real encoders use at most 8 MiB unless
// told to go long).
const maxZstdWindow = 128 << 20

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// verifyReader checks its stream against a digest at EOF.
type verifyReader struct {
	r       io.Reader
	v       digest.Verifier
	want    digest.Digest
	closers []io.Closer
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.v.Write(p[:n])
	if errors.Is(err, io.EOF) && !v.v.Verified() {
		return n, errdefs.Invalid(fmt.Sprintf("layer content does not match its diff ID %s", v.want))
	}
	return n, err
}

func (v *verifyReader) Close() error {
	for _, c := range v.closers {
		c.Close()
	}
	return nil
}

// Docker's media types, which images pushed by docker still use.
const (
	mediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayer     = "application/vnd.docker.image.rootfs.diff.tar"
)

// Load reads and validates the image whose manifest desc points to.
func Load(ctx context.Context, cs *content.Store, desc ocispec.Descriptor) (Image, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != mediaTypeDockerManifest {
		return nil, errdefs.NotImplemented(fmt.Sprintf("manifest %s: media type %q not supported", desc.Digest, desc.MediaType))
	}
	mb, err := cs.ReadAll(ctx, desc.Digest, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("manifest %s: %v", desc.Digest, err))
	}
	if m.SchemaVersion != 2 {
		return nil, errdefs.Invalid(fmt.Sprintf("manifest %s: schemaVersion %d, want 2", desc.Digest, m.SchemaVersion))
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != mediaTypeDockerConfig {
		return nil, errdefs.NotImplemented(fmt.Sprintf("manifest %s: config media type %q not supported", desc.Digest, m.Config.MediaType))
	}
	if len(m.Layers) > maxLayers {
		return nil, errdefs.Invalid(fmt.Sprintf("manifest %s: %d layers, more than %d", desc.Digest, len(m.Layers), maxLayers))
	}
	cb, err := cs.ReadAll(ctx, m.Config.Digest, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var c ocispec.Image
	if err := json.Unmarshal(cb, &c); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("config %s: %v", m.Config.Digest, err))
	}
	if c.RootFS.Type != "layers" {
		return nil, errdefs.Invalid(fmt.Sprintf("config %s: rootfs type %q, want \"layers\"", m.Config.Digest, c.RootFS.Type))
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return nil, errdefs.Invalid(fmt.Sprintf("config %s: %d diff_ids for %d layers", m.Config.Digest, len(c.RootFS.DiffIDs), len(m.Layers)))
	}
	img := &image{desc: desc, manifest: m, config: c}
	for i, ld := range m.Layers {
		switch ld.MediaType {
		case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, mediaTypeDockerLayerGzip, mediaTypeDockerLayer:
		default:
			return nil, errdefs.NotImplemented(fmt.Sprintf("manifest %s: layer %d: media type %q not supported", desc.Digest, i, ld.MediaType))
		}
		if err := ld.Digest.Validate(); err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("manifest %s: layer %d: %v", desc.Digest, i, err))
		}
		if err := c.RootFS.DiffIDs[i].Validate(); err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("config %s: diff_id %d: %v", m.Config.Digest, i, err))
		}
		img.layers = append(img.layers, &layer{cs: cs, desc: ld, diffID: c.RootFS.DiffIDs[i]})
	}
	return img, nil
}
