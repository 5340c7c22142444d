// Package images_test tests image exchange through capsad: capsa save and
// load, docker save and load, tampered archives.
package images_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestSaveLoadRoundTrip saves busybox from one capsad and loads it into a
// fresh one: same image ID, and it runs.
func TestSaveLoadRoundTrip(t *testing.T) {
	a := daemontest.Start(t)
	a.ImportBusybox()
	id := a.MustCapsa("images", "-q", "--no-trunc", "busybox")
	file := filepath.Join(t.TempDir(), "bb.tar")
	a.MustCapsa("save", "-o", file, "busybox")
	names := tarNames(t, file)
	for _, want := range []string{"manifest.json", "index.json", "oci-layout"} {
		if !names[want] {
			t.Errorf("archive lacks %s: %v", want, names)
		}
	}

	b := daemontest.Start(t)
	out := b.MustCapsa("load", "-i", file)
	if !strings.Contains(out, "Loaded image: busybox:latest") {
		t.Fatalf("capsa load: %q", out)
	}
	if got := b.MustCapsa("images", "-q", "--no-trunc", "busybox"); got != id {
		t.Fatalf("loaded image ID %s, saved %s", got, id)
	}
	if got := b.MustCapsa("run", "--rm", "busybox", "echo", "loaded"); !strings.Contains(got, "loaded") {
		t.Fatalf("run of the loaded image: %q", got)
	}
}

// TestDockerSaveLoad runs docker save and docker load against capsad.
func TestDockerSaveLoad(t *testing.T) {
	a := daemontest.Start(t)
	a.ImportBusybox()
	id := a.MustCapsa("images", "-q", "--no-trunc", "busybox")
	file := filepath.Join(t.TempDir(), "bb.tar")
	if r := a.Docker("save", "-o", file, "busybox"); r.Code != 0 {
		t.Fatalf("docker save: %v", r)
	}
	b := daemontest.Start(t)
	r := b.Docker("load", "-i", file)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: busybox:latest") {
		t.Fatalf("docker load: %v", r)
	}
	if got := b.MustCapsa("images", "-q", "--no-trunc", "busybox"); got != id {
		t.Fatalf("loaded image ID %s, saved %s", got, id)
	}
}

// TestLoadTampered: archives with a layer that does not match its diff ID,
// an entry leaving the archive and a manifest naming a missing file fail
// with an error naming the cause and leave the images as they were.
func TestLoadTampered(t *testing.T) {
	a := daemontest.Start(t)
	a.ImportBusybox()
	file := filepath.Join(t.TempDir(), "bb.tar")
	a.MustCapsa("save", "-o", file, "busybox")
	entries := readTar(t, file)

	b := daemontest.Start(t)
	before := b.MustCapsa("images")
	cases := []struct {
		name   string
		edit   func(es []entry) []entry
		wantIn string
	}{
		{"LayerDiffID", func(es []entry) []entry {
			// A docker-archive only: the layer replaced by another
			// valid tar under the same name.
			var out []entry
			for _, e := range es {
				if e.name == "index.json" || e.name == "oci-layout" {
					continue
				}
				if e.name == layerOf(t, es) {
					e.body = tarOf(t, "evil", "x")
				}
				out = append(out, e)
			}
			return out
		}, "does not match its diff ID"},
		{"DotDot", func(es []entry) []entry {
			return append(es, entry{name: "../x", body: []byte("x")})
		}, `"../x": path leaves the archive`},
		{"MissingFile", func(es []entry) []entry {
			var out []entry
			for _, e := range es {
				if e.name != layerOf(t, es) {
					out = append(out, e)
				}
			}
			return out
		}, "archive has no file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.tar")
			writeTar(t, bad, tc.edit(entries))
			r := b.Capsa("load", "-i", bad)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.wantIn) {
				t.Fatalf("capsa load of a bad archive: want an error with %q, got %v", tc.wantIn, r)
			}
			if after := b.MustCapsa("images"); after != before {
				t.Fatalf("images changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

type entry struct {
	name string
	body []byte
}

func readTar(t *testing.T, file string) []entry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []entry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{h.Name, b})
	}
}

func tarNames(t *testing.T, file string) map[string]bool {
	m := map[string]bool{}
	for _, e := range readTar(t, file) {
		m[e.name] = true
	}
	return m
}

func writeTar(t *testing.T, file string, es []entry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tarOf(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// layerOf is the first layer file manifest.json names.
func layerOf(t *testing.T, es []entry) string {
	for _, e := range es {
		if e.name == "manifest.json" {
			var m []struct{ Layers []string }
			if err := json.Unmarshal(e.body, &m); err != nil || len(m) == 0 || len(m[0].Layers) == 0 {
				t.Fatalf("manifest.json: %v %s", err, e.body)
			}
			return m[0].Layers[0]
		}
	}
	t.Fatal("no manifest.json")
	return ""
}
