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
	"time"
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

func TestBridgeCosts(t *testing.T) {
	msd := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	capsa := &engine{name: "capsa", hasNetwork: true}
	docker := &engine{name: "docker", hasNetwork: true}
	podman := &engine{name: "podman", hasNetwork: true}
	ctr := &engine{name: "containerd"}
	runDefault := []*series{
		{e: capsa, wall: msd(50, 60, 70)},
		{e: podman}, // failed: no runs
		{e: docker, wall: msd(300, 320, 340, 360)},
	}
	runNone := []*series{
		{e: capsa, network: "none", wall: msd(45, 48, 90)},
		{e: podman, network: "none", wall: msd(150)},
		{e: docker, network: "none", wall: msd(250, 270, 290, 300)},
		{e: ctr, wall: msd(100)},
	}
	cs := bridgeCosts(runDefault, runNone)
	want := []bridgeCost{
		{name: "capsa", withNet: 60, none: 48, cost: 12, paired: 5},
		{name: "docker", withNet: 330, none: 280, cost: 50, paired: 50},
	}
	if len(cs) != len(want) {
		t.Fatalf("bridgeCosts = %+v, want %+v", cs, want)
	}
	for i := range want {
		if cs[i] != want[i] {
			t.Errorf("bridgeCosts[%d] = %+v, want %+v", i, cs[i], want[i])
		}
	}
	if got := costOf(cs, "podman"); !math.IsNaN(got) {
		t.Errorf("costOf(podman) = %v, want NaN", got)
	}
	if got := ratio(costOf(cs, "capsa"), costOf(cs, "docker")); got != "0.24x" {
		t.Errorf("capsa/docker = %s, want 0.24x", got)
	}
}
