package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format is what Write makes.
type Format int

const (
	// FormatDocker is a docker-archive that is also an OCI layout (docker
	// 25+'s docker save): docker load, podman load and OCI tools read it.
	FormatDocker Format = iota
	// FormatOCI is an OCI image layout alone.
	FormatOCI
)

// Image is one image to write: its manifest, config and layers and the
// names it is saved under (docker's familiar form, "busybox:latest"; full
// names, "docker.io/library/busybox:latest", for the OCI annotation).
type Image struct {
	Manifest  ocispec.Descriptor
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
	RepoTags  []string
	FullNames []string
}

// BlobOpener opens a blob of the store the images come from.
type BlobOpener func(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)

// Write writes imgs as one tar to w; blobs shared between images are
// written once.
func Write(ctx context.Context, w io.Writer, open BlobOpener, imgs []Image, format Format) error {
	tw := tar.NewWriter(w)
	seen := map[digest.Digest]bool{}
	now := time.Unix(0, 0)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: now, Format: tar.FormatPAX})
	}
	file := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	blob := func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		rc, err := open(ctx, d.Digest)
		if err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		defer rc.Close()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobPath(d.Digest), Mode: 0o644, Size: d.Size, ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		vr := d.Digest.Verifier()
		if _, err := io.CopyN(io.MultiWriter(tw, vr), rc, d.Size); err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		if !vr.Verified() {
			return fmt.Errorf("blob %s: content in the store does not match its digest", d.Digest)
		}
		return nil
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	var entries []manifestEntry
	for _, img := range imgs {
		for _, d := range append([]ocispec.Descriptor{img.Manifest, img.Config}, img.Layers...) {
			if err := blob(d); err != nil {
				return err
			}
		}
		e := manifestEntry{Config: blobPath(img.Config.Digest), RepoTags: img.RepoTags}
		if e.RepoTags == nil {
			e.RepoTags = []string{}
		}
		for _, l := range img.Layers {
			e.Layers = append(e.Layers, blobPath(l.Digest))
		}
		entries = append(entries, e)
		if len(img.FullNames) == 0 {
			idx.Manifests = append(idx.Manifests, plain(img.Manifest))
		}
		for i, full := range img.FullNames {
			d := plain(img.Manifest)
			d.Annotations = map[string]string{annotationImageName: full}
			if i < len(img.RepoTags) {
				d.Annotations[annotationRefName] = tagOf(img.RepoTags[i])
			}
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := file("index.json", ib); err != nil {
		return err
	}
	lb, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := file(ocispec.ImageLayoutFile, lb); err != nil {
		return err
	}
	if format == FormatDocker {
		mb, err := json.Marshal(entries)
		if err != nil {
			return err
		}
		if err := file("manifest.json", mb); err != nil {
			return err
		}
	}
	return tw.Close()
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func plain(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// tagOf is the tag of a familiar name ("busybox:latest" → "latest").
func tagOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case ':':
			return name[i+1:]
		case '/':
			return ""
		}
	}
	return ""
}
