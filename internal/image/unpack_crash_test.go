package image

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/mountinfo"
	"github.com/capsa-dev/capsa/internal/snapshot"
	"github.com/capsa-dev/capsa/internal/snapshot/overlay"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("CAPSA_UNPACK_CRASH_CHILD"); dir != "" {
		unpackChild(dir)
		return
	}
	os.Exit(m.Run())
}

// unpackChild unpacks the image whose manifest digest is in dir/manifest,
// saying "started" first; the parent kills it during the unpack.
func unpackChild(dir string) {
	ctx := context.Background()
	fail := func(err error) { fmt.Println(err); os.Exit(1) }
	cs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		fail(err)
	}
	sn, err := overlay.New(ctx, filepath.Join(dir, "overlay"))
	if err != nil {
		fail(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err != nil {
		fail(err)
	}
	img, err := Load(ctx, cs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(b)})
	if err != nil {
		fail(err)
	}
	fmt.Println("started")
	if _, err := Unpack(ctx, img, sn, DefaultLimits); err != nil {
		fail(err)
	}
	fmt.Println("done")
	select {}
}

// TestUnpackKilled kills an unpack while it writes a layer: the stores must
// open, agree with their files, and a second Unpack must finish the image;
// GC then removes the dead extraction.
func TestUnpackKilled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts: run as root")
	}
	ctx := context.Background()
	dir := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// The unpack mounts in a private mount namespace of one thread: a
	// killed child leaves no mount behind (the test removes any, to stay
	// clean if that breaks, and fails).
	mountsLeft := func() []string {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		var left []string
		for _, m := range mountinfo.Parse(b) {
			if strings.HasPrefix(m.Mountpoint, tmp+"/") {
				left = append(left, m.Mountpoint)
				snapshot.UnmountAll(m.Mountpoint)
			}
		}
		return left
	}
	t.Cleanup(func() { mountsLeft() })
	cs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	for i := range 400 {
		es = append(es, entry{name: fmt.Sprintf("d%d/f%d", i%10, i), body: strings.Repeat("x", 128<<10)})
	}
	desc := buildImage(t, cs, nil, mkTar(t, entry{name: "base", body: "b"}), mkTar(t, es...))
	os.WriteFile(filepath.Join(dir, "manifest"), []byte(desc.Digest), 0o600)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CAPSA_UNPACK_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "started\n" {
		t.Fatalf("child said %q", line)
	}
	// Kill once the second layer's files land in its snapshot's upper
	// dir (the mount itself is invisible from here), mid-write.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := filepath.Glob(filepath.Join(dir, "overlay", "snapshots", "*", "fs", "d*")); len(n) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started the second layer")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if left := mountsLeft(); len(left) > 0 {
		t.Errorf("the killed unpack left mounts on the host: %v", left)
	}

	sn, err := overlay.New(ctx, filepath.Join(dir, "overlay"))
	if err != nil {
		t.Fatalf("open snapshotter after kill: %v", err)
	}
	defer sn.Close()
	if err := sn.Check(ctx); err != nil {
		t.Errorf("check after kill: %v", err)
	}
	img, err := Load(ctx, cs, desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, img.ChainID().String()); err == nil {
		t.Fatal("the top layer was committed before the kill: the layer is too small for this test")
	}
	chain, err := Unpack(ctx, img, sn, DefaultLimits)
	if err != nil {
		t.Fatalf("Unpack after kill: %v", err)
	}
	root := view(t, sn, chain)
	if fi, err := os.Stat(filepath.Join(root, "d9", "f399")); err != nil || fi.Size() != 128<<10 {
		t.Errorf("last file after the second unpack: %v", err)
	}
	is, err := OpenStore(filepath.Join(dir, "images.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	is.Put(ctx, "img", desc)
	got, err := GCSnapshots(ctx, cs, is, sn, DefaultPlatform(), 0)
	// Layers extract in parallel: the kill leaves one extraction per
	// layer that was under way.
	if err != nil || len(got) == 0 || len(got) > 2 {
		t.Errorf("GCSnapshots = %v, %v; want the dead extractions", got, err)
	}
	for _, k := range got {
		if !strings.HasPrefix(k, extractPrefix) {
			t.Errorf("GCSnapshots removed %q, not a dead extraction", k)
		}
	}
}
