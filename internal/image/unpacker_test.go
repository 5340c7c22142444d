package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// mountedOnly hides the overlay snapshotter's CommitOnto: Unpack then
// takes its mounted path, as on a snapshotter that cannot stack layers
// unpacked apart.
type mountedOnly struct{ snapshot.Snapshotter }

// whiteoutLayers are two layers whose merge needs whiteouts and an opaque
// directory, and the merged tree they give ("-": absent).
func whiteoutLayers(t *testing.T) (l1, l2 []byte, want map[string]string) {
	l1 = mkTar(t,
		entry{name: "a", body: "a"},
		entry{name: "keep", body: "k"},
		entry{name: "d/", typ: tar.TypeDir},
		entry{name: "d/old", body: "o"},
		entry{name: "gone/sub/f", body: "f"},
		entry{name: "link-src", body: "L"},
	)
	l2 = mkTar(t,
		entry{name: ".wh.a"},
		entry{name: ".wh.gone"},
		entry{name: "d/", typ: tar.TypeDir},
		entry{name: "d/new", body: "n"},
		entry{name: "d/.wh..wh..opq"},
		entry{name: "keep", body: "k2"},
		entry{name: "n/f", body: "nf"},
		entry{name: "n/hard", typ: tar.TypeLink, link: "n/f"},
	)
	return l1, l2, map[string]string{"a": "-", "gone": "-", "keep": "k2", "d/new": "n", "d/old": "-",
		"d/.wh..wh..opq": "-", "link-src": "L", "n/f": "nf", "n/hard": "nf"}
}

func checkTree(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for p, w := range want {
		b, err := os.ReadFile(filepath.Join(root, p))
		switch {
		case w == "-" && !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s: present (%v), want gone", p, err)
		case w != "-" && string(b) != w:
			t.Errorf("%s = %q, %v; want %q", p, b, err, w)
		}
	}
}

// snapshotKinds counts the snapshots by kind.
func snapshotKinds(t *testing.T, sn snapshot.Snapshotter) map[snapshot.Kind]int {
	t.Helper()
	n := map[snapshot.Kind]int{}
	if err := sn.Walk(context.Background(), func(i snapshot.Info) error { n[i.Kind]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnpackerPaths: the same two layers give the same merged tree and
// the same chain whether both stream in (Layer, as a pull hands them
// over), one streams and one comes from the store, both come from the
// store, or the mounted path applies them; nothing but the two layer
// snapshots remains.
func TestUnpackerPaths(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"streamed", "half streamed", "from store", "mounted"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			l1, l2, want := whiteoutLayers(t)
			img, err := Load(ctx, e.cs, buildImage(t, e.cs, nil, l1, l2))
			if err != nil {
				t.Fatal(err)
			}
			var sn snapshot.Snapshotter = e.sn
			if mode == "mounted" {
				sn = mountedOnly{e.sn}
			}
			u := NewUnpacker(sn, DefaultLimits)
			defer u.Close(ctx)
			diffIDs := []digest.Digest{img.Layers()[0].DiffID(), img.Layers()[1].DiffID()}
			if got := u.Wants(ctx, diffIDs[:1]); got != (mode != "mounted") {
				t.Fatalf("Wants(layer 1) = %v", got)
			}
			for i, tb := range [][]byte{l1, l2} {
				if mode == "streamed" || (mode == "half streamed" && i == 1) {
					desc := img.Layers()[i].Descriptor()
					if err := u.Layer(ctx, desc, diffIDs[:i+1], bytes.NewReader(gz(t, tb))); err != nil {
						t.Fatalf("Layer %d: %v", i, err)
					}
					if u.Wants(ctx, diffIDs[:i+1]) {
						t.Errorf("Wants(layer %d) after it was extracted", i)
					}
				}
			}
			chain, err := u.Unpack(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if chain != identity.ChainID(diffIDs) {
				t.Fatalf("chain = %s, want %s", chain, identity.ChainID(diffIDs))
			}
			if info, err := e.sn.Stat(ctx, chain.String()); err != nil || info.Parent != diffIDs[0].String() {
				t.Errorf("Stat(top) = %+v, %v; want parent = layer 1's chain ID", info, err)
			}
			if n := snapshotKinds(t, e.sn); n[snapshot.KindCommitted] != 2 || len(n) != 1 {
				t.Errorf("snapshots after unpack: %v, want the 2 committed layers only", n)
			}
			if mode != "mounted" && u.Wants(ctx, diffIDs) {
				t.Error("Wants(top) once committed")
			}
			checkTree(t, view(t, e.sn, chain), want)
		})
	}
}

// TestUnpackerZstd: a zstd layer, streamed or from the store.
func TestUnpackerZstd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tb := mkTar(t, entry{name: "etc/zstd", body: "zstd layer"})
	zw, _ := zstd.NewWriter(nil)
	zb := zw.EncodeAll(tb, nil)
	layer := put(t, e.cs, ocispec.MediaTypeImageLayerZstd, zb)
	cfg, _ := jsonBytes(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tb)}}})
	m, _ := jsonBytes(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: put(t, e.cs, ocispec.MediaTypeImageConfig, cfg), Layers: []ocispec.Descriptor{layer}})
	img, err := Load(ctx, e.cs, put(t, e.cs, ocispec.MediaTypeImageManifest, m))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := Unpack(ctx, img, e.sn, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, view(t, e.sn, chain), map[string]string{"etc/zstd": "zstd layer"})

	e2 := newEnv(t)
	u := NewUnpacker(e2.sn, DefaultLimits)
	defer u.Close(ctx)
	if err := u.Layer(ctx, layer, []digest.Digest{digest.FromBytes(tb)}, bytes.NewReader(zb)); err != nil {
		t.Fatalf("streamed zstd layer: %v", err)
	}
}

// TestUnpackerRefusals: a streamed layer that does not match its diff ID
// or is not what its media type says fails and leaves no snapshot; what
// a failed pull extracted is removed by Close.
func TestUnpackerRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tb := mkTar(t, entry{name: "f", body: "x"})
	u := NewUnpacker(e.sn, DefaultLimits)
	gzDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz(t, tb))}
	err := u.Layer(ctx, gzDesc, []digest.Digest{digest.FromString("other")}, bytes.NewReader(gz(t, tb)))
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("layer with a wrong diff ID: %v, want invalid", err)
	}
	if err := u.Layer(ctx, gzDesc, []digest.Digest{digest.FromBytes(tb)}, bytes.NewReader(tb)); err == nil {
		t.Error("a plain tar as gzip was accepted")
	}
	if err := u.Layer(ctx, ocispec.Descriptor{MediaType: "application/vnd.example.layer+lz4"}, []digest.Digest{digest.FromBytes(tb)}, bytes.NewReader(tb)); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("unknown media type: %v, want not implemented", err)
	}
	if n := snapshotKinds(t, e.sn); len(n) != 0 {
		t.Errorf("snapshots after refused layers: %v", n)
	}
	// A good layer extracted, then the pull fails: Close removes it.
	if err := u.Layer(ctx, gzDesc, []digest.Digest{digest.FromBytes(tb)}, bytes.NewReader(gz(t, tb))); err != nil {
		t.Fatal(err)
	}
	if n := snapshotKinds(t, e.sn); n[snapshot.KindActive] != 1 {
		t.Fatalf("snapshots after one extracted layer: %v", n)
	}
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := snapshotKinds(t, e.sn); len(n) != 0 {
		t.Errorf("snapshots after Close: %v", n)
	}
}

// TestRemoveExtractions removes the extractions a killed unpack left,
// and nothing else.
func TestRemoveExtractions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, k := range []string{extractPrefix + "x-1", extractPrefix + "x-2", "container-rw"} {
		if _, err := e.sn.Prepare(ctx, k, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := RemoveExtractions(ctx, e.sn)
	if err != nil || len(got) != 2 {
		t.Fatalf("RemoveExtractions = %v, %v", got, err)
	}
	if _, err := e.sn.Stat(ctx, "container-rw"); err != nil {
		t.Errorf("a container's snapshot went too: %v", err)
	}
}
