package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
	"github.com/capsa-dev/capsa/internal/snapshot/overlay"
)

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

// entry is one tar entry for mkTar.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

func mkTar(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func put(t *testing.T, cs *content.Store, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := content.WriteBlob(context.Background(), cs, d.Digest.String(), bytes.NewReader(b), d.Digest, d.Size); err != nil {
		t.Fatal(err)
	}
	return d
}

// buildImage stores an image of the given layer tars (diffIDs may be
// overridden to test the check) and returns its manifest descriptor.
func buildImage(t *testing.T, cs *content.Store, diffIDs []digest.Digest, tars ...[]byte) ocispec.Descriptor {
	t.Helper()
	var layers []ocispec.Descriptor
	for i, tb := range tars {
		layers = append(layers, put(t, cs, ocispec.MediaTypeImageLayerGzip, gz(t, tb)))
		if len(diffIDs) <= i {
			diffIDs = append(diffIDs, digest.FromBytes(tb))
		}
	}
	cfg, _ := jsonBytes(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	m, _ := jsonBytes(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: put(t, cs, ocispec.MediaTypeImageConfig, cfg), Layers: layers})
	return put(t, cs, ocispec.MediaTypeImageManifest, m)
}

type env struct {
	cs *content.Store
	sn *overlay.Snapshotter
}

func newEnv(t *testing.T) env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking mounts snapshots: run as root")
	}
	t.Setenv("TMPDIR", t.TempDir()) // Unpack's temporary mount points
	cs, err := content.Open(filepath.Join(t.TempDir(), "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := overlay.New(context.Background(), filepath.Join(t.TempDir(), "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return env{cs, sn}
}

// view mounts a read-only view of chain and returns where.
func view(t *testing.T, sn snapshot.Snapshotter, chain digest.Digest) string {
	t.Helper()
	ms, err := sn.View(context.Background(), "view-"+chain.String(), chain.String())
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := snapshot.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshot.UnmountAll(target) })
	return target
}

func TestImportRootfsAndUnpack(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rootfs := mkTar(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "bin/", typ: tar.TypeDir},
		entry{name: "bin/busybox", body: "#!elf", mode: 0o755},
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		entry{name: "bin/ls", typ: tar.TypeLink, link: "bin/busybox"},
		entry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"}, // no entry for etc/
		entry{name: "usr/bin/su", body: "su", mode: 0o4755, uid: 1000, gid: 1000},
		entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	)
	desc, err := ImportRootfs(ctx, e.cs, bytes.NewReader(rootfs), ImportOptions{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}})
	if err != nil {
		t.Fatal(err)
	}
	is, err := OpenStore(filepath.Join(t.TempDir(), "images.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	if err := is.Put(ctx, "busybox:latest", desc); err != nil {
		t.Fatal(err)
	}
	rec, err := is.Get(ctx, "busybox:latest")
	if err != nil || rec.Target.Digest != desc.Digest {
		t.Fatalf("Get = %+v, %v; want target %s", rec, err, desc.Digest)
	}
	img, err := Load(ctx, e.cs, rec.Target)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Config().RootFS.DiffIDs; len(got) != 1 || got[0] != digest.FromBytes(rootfs) {
		t.Errorf("diff_ids = %v, want [%s]", got, digest.FromBytes(rootfs))
	}
	if l := img.Manifest().Layers; len(l) != 1 || l[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("layers = %+v, want one gzip layer", l)
	}
	if got := img.Config().Config.Cmd; len(got) != 1 || got[0] != "sh" {
		t.Errorf("Cmd = %v", got)
	}

	chain, err := Unpack(ctx, img, e.sn, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if chain != img.ChainID() || chain != digest.FromBytes(rootfs) { // one layer: chain ID = diff ID
		t.Errorf("chain = %s, want %s", chain, img.ChainID())
	}
	root := view(t, e.sn, chain)
	checks := []struct {
		path string
		mode os.FileMode
		uid  uint32
		link string
	}{
		{path: "bin/busybox", mode: 0o755},
		{path: "bin/sh", mode: os.ModeSymlink | 0o777, link: "busybox"},
		{path: "etc/passwd", mode: 0o644},
		{path: "usr/bin/su", mode: os.ModeSetuid | 0o755, uid: 1000},
		{path: "run/fifo", mode: os.ModeNamedPipe | 0o600},
		{path: "tmp", mode: os.ModeDir | os.ModeSticky | 0o777},
	}
	for _, c := range checks {
		fi, err := os.Lstat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if fi.Mode() != c.mode || fi.Sys().(*syscall.Stat_t).Uid != c.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", c.path, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, c.mode, c.uid)
		}
		if c.link != "" {
			if l, _ := os.Readlink(filepath.Join(root, c.path)); l != c.link {
				t.Errorf("%s -> %q, want %q", c.path, l, c.link)
			}
		}
		if !fi.ModTime().Equal(time.Unix(1700000000, 0)) && c.path != "run/fifo" {
			t.Errorf("%s: mtime %v", c.path, fi.ModTime())
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "bin/ls")); fi == nil || fi.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("bin/ls is not a hard link of bin/busybox")
	}

	// Unpacking again reuses the snapshot.
	if again, err := Unpack(ctx, img, e.sn, DefaultLimits); err != nil || again != chain {
		t.Errorf("second Unpack = %s, %v", again, err)
	}
	n := 0
	e.sn.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 2 { // the layer and the view
		t.Errorf("%d snapshots after two unpacks, want 2", n)
	}
}

func TestUnpackRefusesBadDiffID(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l := mkTar(t, entry{name: "f", body: "x"})
	desc := buildImage(t, e.cs, []digest.Digest{digest.FromString("not the layer")}, l)
	img, err := Load(ctx, e.cs, desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(ctx, img, e.sn, DefaultLimits); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "diff ID") {
		t.Fatalf("Unpack = %v, want a diff ID mismatch", err)
	}
	e.sn.Walk(ctx, func(i snapshot.Info) error { t.Errorf("snapshot left: %+v", i); return nil })
}

func TestLoadRefusals(t *testing.T) {
	ctx := context.Background()
	cs, err := content.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := put(t, cs, ocispec.MediaTypeImageConfig, []byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg1 := put(t, cs, ocispec.MediaTypeImageConfig, []byte(`{"rootfs":{"type":"layers","diff_ids":["`+digest.FromString("l").String()+`"]}}`))
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("l"), Size: 1}
	manifest := func(m ocispec.Manifest) ocispec.Descriptor {
		m.SchemaVersion = 2
		b, _ := jsonBytes(m)
		return put(t, cs, ocispec.MediaTypeImageManifest, b)
	}
	tests := []struct {
		name string
		desc ocispec.Descriptor
		want error
	}{
		{"index media type", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("x")}, errdefs.ErrNotImplemented},
		{"missing manifest", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x")}, errdefs.ErrNotFound},
		{"not json", put(t, cs, ocispec.MediaTypeImageManifest, []byte("{")), errdefs.ErrInvalid},
		{"too large", put(t, cs, ocispec.MediaTypeImageManifest, bytes.Repeat([]byte(" "), maxManifestSize+1)), errdefs.ErrInvalid},
		{"layers without diff_ids", manifest(ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}}), errdefs.ErrInvalid},
		{"lz4 layer", manifest(ocispec.Manifest{Config: cfg1, Layers: []ocispec.Descriptor{{MediaType: "application/vnd.example.layer.v1.tar+lz4", Digest: layer.Digest}}}), errdefs.ErrNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(ctx, cs, tt.desc); !errors.Is(err, tt.want) {
				t.Errorf("Load = %v, want %v", err, tt.want)
			}
		})
	}
}
