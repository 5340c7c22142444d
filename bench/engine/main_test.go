package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"testing"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
		{[]float64{5}, 90, 5},
	}
	for _, tt := range tests {
		if got := percentile(tt.xs, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile(nil) = %v, want NaN", got)
	}
}

// TestDockerArchive checks that the archive names its config and layer as
// `docker load` and `ctr image import` expect.
func TestDockerArchive(t *testing.T) {
	if _, err := os.Stat(busyboxBinary); err != nil {
		t.Skip("busybox-static not installed")
	}
	layer, err := rootfsTar()
	if err != nil {
		t.Fatal(err)
	}
	archive, err := dockerArchive(layer)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[h.Name] = body
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 || manifest[0].RepoTags[0] != imageRef {
		t.Fatalf("manifest = %+v", manifest)
	}
	if !bytes.Equal(files[manifest[0].Layers[0]], layer) {
		t.Error("layer in the archive differs from the rootfs tar")
	}
	if _, ok := files[manifest[0].Config]; !ok {
		t.Errorf("config %s missing", manifest[0].Config)
	}
}
