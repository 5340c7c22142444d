package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
)

// testArchive is Write's archive of one small image named
// "busybox:latest", and the image's blobs.
func testArchive(t *testing.T) ([]byte, map[digest.Digest][]byte) {
	t.Helper()
	blobs := map[digest.Digest][]byte{}
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		blobs[d] = b
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	layer := put(ocispec.MediaTypeImageLayer, tarBytes(t, tarEntry{name: "hello", body: "hi\n"}))
	cb, _ := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}}})
	cfg := put(ocispec.MediaTypeImageConfig, cb)
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	man := put(ocispec.MediaTypeImageManifest, mb)
	open := func(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blobs[d])), nil
	}
	var buf bytes.Buffer
	img := Image{Manifest: man, Config: cfg, Layers: []ocispec.Descriptor{layer}, RepoTags: []string{"busybox:latest"}, FullNames: []string{"docker.io/library/busybox:latest"}}
	if err := Write(context.Background(), &buf, open, []Image{img}, FormatDocker); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), blobs
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func tarBytes(t *testing.T, es ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarFiles is the regular files of a tar: name → content.
func tarFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			body, _ := io.ReadAll(tr)
			out[h.Name] = string(body)
		}
	}
}

// dirFiles is the regular files under dir: slash path → content.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(m map[string]string) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// TestLayoutRoundTrip: Write's archive → WriteLayoutDir → LayoutTar and
// FilterOCI give the same OCI files, and no manifest.json.
func TestLayoutRoundTrip(t *testing.T) {
	ctx := context.Background()
	arc, blobs := testArchive(t)
	want := tarFiles(t, arc)
	delete(want, "manifest.json")
	if len(want) != 2+len(blobs) {
		t.Fatalf("archive files %s", names(want))
	}

	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayoutDir(ctx, bytes.NewReader(arc), dir); err != nil {
		t.Fatal(err)
	}
	if got := dirFiles(t, dir); names(got) != names(want) {
		t.Fatalf("layout dir has %s, want %s", names(got), names(want))
	}
	idx, err := ReadLayoutIndex(dir)
	if err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("ReadLayoutIndex: %v %+v", err, idx)
	}
	if got := ImageName(idx.Manifests[0].Annotations); got != "docker.io/library/busybox:latest" {
		t.Errorf("ImageName = %q", got)
	}

	var lt bytes.Buffer
	if err := LayoutTar(ctx, &lt, dir); err != nil {
		t.Fatal(err)
	}
	var ft bytes.Buffer
	if err := FilterOCI(ctx, bytes.NewReader(arc), &ft); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"LayoutTar": lt.Bytes(), "FilterOCI": ft.Bytes()} {
		got := tarFiles(t, b)
		if names(got) != names(want) {
			t.Errorf("%s: files %s, want %s", name, names(got), names(want))
		}
		for n, body := range want {
			if got[n] != body {
				t.Errorf("%s: %s differs", name, n)
			}
		}
	}

	// An existing empty directory is fine; a non-empty one is refused.
	empty := t.TempDir()
	if err := WriteLayoutDir(ctx, bytes.NewReader(arc), empty); err != nil {
		t.Errorf("into an empty dir: %v", err)
	}
	if err := WriteLayoutDir(ctx, bytes.NewReader(arc), dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("into a non-empty dir: got %v, want not empty", err)
	}
}

// TestWriteLayoutDirHostile: archives that would write outside the
// directory, through a link or with a bad blob fail with an error naming
// the entry and leave no directory behind.
func TestWriteLayoutDirHostile(t *testing.T) {
	arc, blobs := testArchive(t)
	files := tarFiles(t, arc)
	var blob string
	for d := range blobs {
		blob = blobPath(d)
	}
	base := func(skip string) []tarEntry {
		var es []tarEntry
		for n, b := range files {
			if n != skip {
				es = append(es, tarEntry{name: n, body: b})
			}
		}
		sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
		return es
	}
	cases := []struct {
		name    string
		entries []tarEntry
		wantErr string
	}{
		{"DotDot", append(base(""), tarEntry{name: "blobs/../../x", body: "x"}), "path leaves the archive"},
		{"Absolute", append(base(""), tarEntry{name: "/etc/x", body: "x"}), "absolute"},
		{"SymlinkIndex", append(base("index.json"), tarEntry{name: "index.json", typ: tar.TypeSymlink, link: "/etc/passwd"}), "not a regular file"},
		{"BadBlobName", append(base(""), tarEntry{name: "blobs/sha256/zz", body: "x"}), `"blobs/sha256/zz": not a blob name`},
		{"TamperedBlob", append(base(blob), tarEntry{name: blob, body: files[blob] + "x"}), "does not match its digest"},
		{"Twice", append(base(""), tarEntry{name: blob, body: files[blob]}), "more than once"},
		{"NoIndex", base("index.json"), "no index.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			err := WriteLayoutDir(context.Background(), bytes.NewReader(tarBytes(t, tc.entries...)), dir)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("directory left behind: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(filepath.Dir(dir)), "x")); err == nil {
				t.Errorf("a file was written outside the directory")
			}
		})
	}
}

// TestLayoutTarLinks: a symlink in a layout may not lead LayoutTar out of
// the directory.
func TestLayoutTarLinks(t *testing.T) {
	arc, _ := testArchive(t)
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayoutDir(context.Background(), bytes.NewReader(arc), dir); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	err := LayoutTar(context.Background(), io.Discard, dir)
	if err == nil || !strings.Contains(err.Error(), "index.json") {
		t.Fatalf("LayoutTar with index.json linked out: got %v, want an error naming index.json", err)
	}
}

// TestLoadNames: how Load names an OCI layout's images, as podman load
// names an oci-archive's.
func TestLoadNames(t *testing.T) {
	arc, _ := testArchive(t)
	files := tarFiles(t, arc)
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(files["index.json"]), &idx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		annotations map[string]string
		docker      bool // keep manifest.json (RepoTags busybox:latest)
		want        string
		wantErr     string
	}{
		{"Capsa", idx.Manifests[0].Annotations, true, "busybox:latest docker.io/library/busybox:latest", ""},
		{"Podman", map[string]string{annotationRefName: "docker.io/library/busybox:latest"}, false, "docker.io/library/busybox:latest", ""},
		{"SkopeoTag", map[string]string{annotationRefName: "mytag"}, false, "mytag", ""},
		{"TagBesideRepoTags", map[string]string{annotationRefName: "latest"}, true, "busybox:latest", ""},
		{"None", nil, false, "", ""},
		{"Invalid", map[string]string{annotationRefName: "Bad/Name"}, false, "", `index.json names it "Bad/Name"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := content.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ix := idx
			ix.Manifests = []ocispec.Descriptor{plain(idx.Manifests[0])}
			ix.Manifests[0].Annotations = tc.annotations
			ib, _ := json.Marshal(ix)
			var es []tarEntry
			for n, b := range files {
				switch {
				case n == "index.json":
					b = string(ib)
				case n == "manifest.json" && !tc.docker:
					continue
				}
				es = append(es, tarEntry{name: n, body: b})
			}
			loaded, err := Load(context.Background(), cs, bytes.NewReader(tarBytes(t, es...)), t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(loaded) != 1 {
				t.Fatalf("Load: %v, %d images", err, len(loaded))
			}
			if got := strings.Join(loaded[0].Names, " "); got != tc.want {
				t.Errorf("names %q, want %q", got, tc.want)
			}
		})
	}
}
