package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// imageTag is the tag of the image in the OCI layout (oci:DIR:bench).
const imageTag = "bench"

// imageSpec says what image to make: layers layers, each a tar holding one
// file of layerBytes random bytes.
type imageSpec struct {
	layers     int
	layerBytes int64
}

// layoutImage is what writeLayout made.
type layoutImage struct {
	dir            string
	manifest       digest.Digest
	compressedSize int64 // the layers' blobs, gzipped
	unpackedSize   int64 // the files the layers hold
}

// writeLayout writes spec's image as an OCI image layout in dir (made
// here), tagged imageTag. The bytes come from ChaCha8 seeded with the
// layer's index: every run pulls the same image, and no registry or
// engine can dedupe one layer against another. Layers are made two at a
// time (the machine's cores), each streamed through tar, gzip and sha256
// straight into its blob file.
func writeLayout(dir string, spec imageSpec) (*layoutImage, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("make image layout %s: %w", dir, err)
	}
	layers := make([]ocispec.Descriptor, spec.layers)
	diffIDs := make([]digest.Digest, spec.layers)
	var g errgroup.Group
	g.SetLimit(max(1, runtime.NumCPU()))
	for i := range spec.layers {
		g.Go(func() error {
			desc, diffID, err := writeLayer(blobs, i, spec.layerBytes)
			if err != nil {
				return fmt.Errorf("write layer %d of the image: %w", i, err)
			}
			layers[i], diffIDs[i] = desc, diffID
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		// A command, because `create` refuses an image without one; it is
		// never run.
		Config: ocispec.ImageConfig{Cmd: []string{"/layer-0"}},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	for i := range spec.layers {
		config.History = append(config.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("bench/pull: layer %d, %d random bytes", i, spec.layerBytes)})
	}
	configDesc, err := writeJSONBlob(blobs, ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return nil, err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	}
	manifestDesc, err := writeJSONBlob(blobs, ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return nil, err
	}
	manifestDesc.Annotations = map[string]string{ocispec.AnnotationRefName: imageTag}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	if err := writeJSON(filepath.Join(dir, "index.json"), index); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, ocispec.ImageLayoutFile), ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return nil, err
	}
	img := &layoutImage{dir: dir, manifest: manifestDesc.Digest, unpackedSize: int64(spec.layers) * spec.layerBytes}
	for _, l := range layers {
		img.compressedSize += l.Size
	}
	return img, nil
}

// writeLayer writes layer i, a gzipped tar of the one file /layer-<i>, as
// a blob in blobs and returns its descriptor and its diff id (the digest
// of the tar before gzip).
func writeLayer(blobs string, i int, size int64) (ocispec.Descriptor, digest.Digest, error) {
	tmp, err := os.CreateTemp(blobs, ".layer-*")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()

	compressed := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(tmp, compressed)}
	// BestSpeed: random bytes do not compress at any level (deflate
	// stores them), so a slower level would only make the image slower to
	// make, not different to unpack.
	gz, err := gzip.NewWriterLevel(counter, gzip.BestSpeed)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	uncompressed := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, uncompressed))
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     fmt.Sprintf("layer-%d", i),
		Mode:     0o644,
		Size:     size,
		ModTime:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i)+1)
	if _, err := io.CopyN(tw, rand.NewChaCha8(seed), size); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := tmp.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d := digest.NewDigestFromBytes(digest.SHA256, compressed.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(blobs, d.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: counter.n}
	return desc, digest.NewDigestFromBytes(digest.SHA256, uncompressed.Sum(nil)), nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeJSONBlob writes v as a blob of mediaType in blobs.
func writeJSONBlob(blobs, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode %s: %w", mediaType, err)
	}
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write %s blob: %w", mediaType, err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
