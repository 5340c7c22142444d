package image

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/capsa-dev/capsa/internal/content"
)

func TestGC(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	is, err := OpenStore(filepath.Join(t.TempDir(), "images.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	l1 := mkTar(t, entry{name: "base", body: "b"})
	l2 := mkTar(t, entry{name: "a", body: "a"})
	l3 := mkTar(t, entry{name: "b", body: "b"})
	descA, descB := buildImage(t, e.cs, nil, l1, l2), buildImage(t, e.cs, nil, l1, l3)
	is.Put(ctx, "a", descA)
	is.Put(ctx, "b", descB)
	var chains []string
	imgA, err := Load(ctx, e.cs, descA)
	if err != nil {
		t.Fatal(err)
	}
	imgB, err := Load(ctx, e.cs, descB)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []Image{imgA, imgB} {
		c, err := Unpack(ctx, img, e.sn, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		chains = append(chains, c.String())
	}
	// A container on image b keeps its layers while it exists.
	if _, err := e.sn.Prepare(ctx, "container", chains[1]); err != nil {
		t.Fatal(err)
	}
	junk := []byte("junk")
	if err := content.WriteBlob(ctx, e.cs, "junk", bytes.NewReader(junk), digest.FromBytes(junk), 4); err != nil {
		t.Fatal(err)
	}
	if err := is.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}

	// A grace period longer than the blobs' age keeps everything.
	if removed, err := GCContent(ctx, e.cs, is, time.Hour); err != nil || len(removed) != 0 {
		t.Fatalf("GCContent(1h) = %v, %v; want nothing removed", removed, err)
	}
	removed, err := GCContent(ctx, e.cs, is, 0)
	if err != nil {
		t.Fatal(err)
	}
	l3Blob := imgB.Layers()[1].Descriptor().Digest
	want := []digest.Digest{descB.Digest, imgB.Manifest().Config.Digest, l3Blob, digest.FromBytes(junk)}
	slices.Sort(want)
	slices.Sort(removed)
	if fmt.Sprint(removed) != fmt.Sprint(want) {
		t.Errorf("GCContent removed %v, want %v", removed, want)
	}
	for _, l := range imgA.Layers() {
		if _, err := e.cs.Info(ctx, l.Descriptor().Digest); err != nil {
			t.Errorf("image a's layer %s: %v", l.Descriptor().Digest, err)
		}
	}

	topB := identity.ChainID([]digest.Digest{digest.FromBytes(l1), digest.FromBytes(l3)}).String()
	if got, err := GCSnapshots(ctx, e.cs, is, e.sn, DefaultPlatform(), time.Hour); err != nil || len(got) != 0 {
		t.Errorf("GCSnapshots under a container = %v, %v; want nothing removed", got, err)
	}
	if err := e.sn.Remove(ctx, "container"); err != nil {
		t.Fatal(err)
	}
	if got, err := GCSnapshots(ctx, e.cs, is, e.sn, DefaultPlatform(), time.Hour); err != nil || fmt.Sprint(got) != fmt.Sprint([]string{topB}) {
		t.Errorf("GCSnapshots = %v, %v; want [%s]", got, err, topB)
	}
	// An unpack that died left its extraction snapshot: removed past the grace.
	if _, err := e.sn.Prepare(ctx, extractPrefix+"dead-"+chains[0], chains[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := GCSnapshots(ctx, e.cs, is, e.sn, DefaultPlatform(), time.Hour); err != nil || len(got) != 0 {
		t.Errorf("GCSnapshots of a fresh extraction = %v, %v; want nothing removed", got, err)
	}
	if got, err := GCSnapshots(ctx, e.cs, is, e.sn, DefaultPlatform(), 0); err != nil || len(got) != 1 {
		t.Errorf("GCSnapshots of a stale extraction = %v, %v; want it removed", got, err)
	}
	for _, c := range []string{chains[0], digest.FromBytes(l1).String()} {
		if _, err := e.sn.Stat(ctx, c); err != nil {
			t.Errorf("image a's snapshot %s: %v", c, err)
		}
	}
}
