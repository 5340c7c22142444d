package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestWriteLayout makes a small image and checks that the layout is what
// skopeo's oci: transport reads: index.json naming the tag, every blob
// under its digest with the size the descriptor gives, one diff id per
// layer.
func TestWriteLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	spec := imageSpec{layers: 3, layerBytes: 64 << 10}
	img, err := writeLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if img.unpackedSize != 3*64<<10 {
		t.Errorf("unpackedSize = %d, want %d", img.unpackedSize, 3*64<<10)
	}
	var index ocispec.Index
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations[ocispec.AnnotationRefName] != imageTag {
		t.Fatalf("index.json manifests = %+v, want one tagged %q", index.Manifests, imageTag)
	}
	var manifest ocispec.Manifest
	readJSON(t, blobPath(t, dir, index.Manifests[0]), &manifest)
	if len(manifest.Layers) != spec.layers {
		t.Fatalf("manifest has %d layers, want %d", len(manifest.Layers), spec.layers)
	}
	var config ocispec.Image
	readJSON(t, blobPath(t, dir, manifest.Config), &config)
	if len(config.RootFS.DiffIDs) != spec.layers {
		t.Errorf("config has %d diff ids, want %d", len(config.RootFS.DiffIDs), spec.layers)
	}
	var compressed int64
	seen := map[digest.Digest]bool{}
	for _, l := range manifest.Layers {
		blobPath(t, dir, l)
		compressed += l.Size
		// Random bytes: gzip cannot shrink them.
		if l.Size < spec.layerBytes {
			t.Errorf("layer %s is %d bytes, want at least the %d random bytes it holds", l.Digest, l.Size, spec.layerBytes)
		}
		if seen[l.Digest] {
			t.Errorf("layer %s twice: each layer must be different", l.Digest)
		}
		seen[l.Digest] = true
	}
	if compressed != img.compressedSize {
		t.Errorf("compressedSize = %d, want the layers' sum %d", img.compressedSize, compressed)
	}
	// The layout holds only gzipped layers: no unpacked layer file.
	if n := unpackedLayers(dir, spec.layerBytes); n != 0 {
		t.Errorf("unpackedLayers(image layout) = %d, want 0", n)
	}
	unpacked := filepath.Join(t.TempDir(), "snapshots", "1", "fs")
	if err := os.MkdirAll(unpacked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unpacked, "layer-2"), make([]byte, spec.layerBytes), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := unpackedLayers(filepath.Dir(filepath.Dir(unpacked)), spec.layerBytes); n != 1 {
		t.Errorf("unpackedLayers = %d, want 1", n)
	}
}

// blobPath checks that desc's blob is in the layout with its digest and
// size, and returns its path.
func blobPath(t *testing.T, dir string, desc ocispec.Descriptor) string {
	t.Helper()
	p := filepath.Join(dir, "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("blob %s: %v", desc.Digest, err)
	}
	if int64(len(b)) != desc.Size || digest.FromBytes(b) != desc.Digest {
		t.Fatalf("blob %s: %d bytes with digest %s, want %d bytes", desc.Digest, len(b), digest.FromBytes(b), desc.Size)
	}
	return p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestResults checks the summed rows, the ratios and the goal line.
func TestResults(t *testing.T) {
	capsa := &tool{name: "capsa", steps: []string{"pull", "create"}}
	podman := &tool{name: "podman", steps: []string{"pull", "create"}}
	r := &results{}
	r.addTool(capsa)
	r.addTool(podman)
	s := time.Second
	r.record(capsa, []time.Duration{s / 2, s / 10})
	r.record(capsa, []time.Duration{s, s / 10})
	r.record(capsa, []time.Duration{s * 3 / 5, s / 10})
	r.record(podman, []time.Duration{s, 0})
	r.record(podman, []time.Duration{s * 2, 0})
	r.record(podman, []time.Duration{s * 3 / 2, 0})

	if got, want := r.find("capsa", "pull+create").median(), 0.7; !near(got, want) {
		t.Errorf("capsa pull+create median = %v, want %v", got, want)
	}
	if got, want := r.find("podman", "pull").median(), 1.5; !near(got, want) {
		t.Errorf("podman pull median = %v, want %v", got, want)
	}
	if got := ratio(0.7, 1.5); got != "0.47x" {
		t.Errorf("ratio(0.7, 1.5) = %q, want 0.47x", got)
	}
	if g := r.goal(); !strings.Contains(g, ": met") {
		t.Errorf("goal = %q, want met (0.70 s <= 0.7 x 1.50 s)", g)
	}
	var out strings.Builder
	r.table(&out)
	for _, want := range []string{"capsa pull+create", "0.70", "0.47x", "podman pull"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	empty := &results{}
	empty.addTool(podman)
	if g := empty.goal(); !strings.Contains(g, "not measured") {
		t.Errorf("goal without capsa = %q, want not measured", g)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
