package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// ImportOptions shape the image ImportRootfs makes.
type ImportOptions struct {
	Config  ocispec.ImageConfig // Cmd, Env, WorkingDir ...
	Created time.Time           // zero: now
	OS      string              // "" : linux
	Arch    string              // "" : this machine's
}

// ImportRootfs stores the uncompressed root filesystem tar r as a one-layer
// OCI image: the layer blob (the tar gzip-compressed; its diff ID is the
// tar's digest), the config and the manifest, and returns the manifest's
// descriptor. The tar is not inspected here: Unpack is where layers from
// strangers are checked.
func ImportRootfs(ctx context.Context, cs *content.Store, r io.Reader, opts ImportOptions) (ocispec.Descriptor, error) {
	layerDesc, diffID, err := writeGzipLayer(ctx, cs, r)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("import rootfs: %w", err)
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: orDefault(opts.OS, "linux"), Architecture: orDefault(opts.Arch, runtime.GOARCH)},
		Config:   opts.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &created, CreatedBy: "capsa import rootfs"}},
	}
	cfgDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("import rootfs: config: %w", err)
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	mDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("import rootfs: manifest: %w", err)
	}
	return mDesc, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeGzipLayer streams r through gzip into the store, digesting the
// uncompressed bytes on the way.
func writeGzipLayer(ctx context.Context, cs *content.Store, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	ref := "import-" + hex.EncodeToString(rnd[:])
	w, err := cs.Writer(ctx, ref, "", 0)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	committed := false
	defer func() {
		w.Close()
		if !committed {
			cs.Abort(ctx, ref)
		}
	}()
	diff := digest.SHA256.Digester()
	zw := gzip.NewWriter(w)
	if _, err := io.Copy(io.MultiWriter(zw, diff.Hash()), r); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer: %w", err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: w.Offset()}
	if err := w.Commit(ctx); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer: %w", err)
	}
	committed = true
	return desc, diff.Digest(), nil
}

// writeJSON stores v as a JSON blob of the given media type.
func writeJSON(ctx context.Context, cs *content.Store, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := content.WriteBlob(ctx, cs, "json-"+desc.Digest.String(), bytes.NewReader(b), desc.Digest, desc.Size); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}
