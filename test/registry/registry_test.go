// Package registry_test pulls images from a real registry (Debian's
// docker-registry, the distribution server) on 127.0.0.1, through capsad.
package registry_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/daemontest"
)

const registryBin = "/usr/bin/docker-registry"

// registry is one docker-registry of a test.
type registry struct {
	Host string // 127.0.0.1:PORT
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRegistry runs docker-registry on a free loopback port with its
// storage in a temporary directory; t.Cleanup kills it by PID.
func startRegistry(t *testing.T) *registry {
	t.Helper()
	return startRegistryWith(t, "")
}

// startRegistryWith is startRegistry with extra top-level configuration
// (an auth: section); with one, /v2/ answers 401 once it is up.
func startRegistryWith(t *testing.T, extra string) *registry {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		t.Skip("Debian's docker-registry is not installed (scripts/install-deps.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n%s", filepath.Join(dir, "data"), addr, extra)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &registry{Host: addr, out: &syncBuffer{}}
	cmd := exec.Command(registryBin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || extra != "" && resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, r.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// busyboxImage is busybox-static as an image (Docker schema2) for arch:
// a layer with busybox, one with /etc/arch saying arch and one with
// /etc/name saying name (so that images differ).
func busyboxImage(t *testing.T, arch, name string) v1.Image {
	t.Helper()
	return stackImage(t, empty.Image, arch, []string{"sh"},
		layerOf(t, busyboxtest.Tar(t, "sh", "echo", "cat", "ls")),
		layerOf(t, markerTar(t, "etc/arch", arch+"\n")),
		layerOf(t, markerTar(t, "etc/name", name+"\n")))
}

// layerOf is the layer of the uncompressed tar tarBytes.
func layerOf(t *testing.T, tarBytes []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stackImage is base with layers on top, for linux/arch, running cmd
// (nil: none).
func stackImage(t *testing.T, base v1.Image, arch string, cmd []string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = cmd
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func markerTar(t *testing.T, path, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := newTarWriter(&buf)
	tw.file(t, path, body)
	return buf.Bytes()
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// storeFiles lists the daemon's content store (blobs and ingests).
func storeFiles(t *testing.T, d *daemontest.Daemon) []string {
	t.Helper()
	var out []string
	root := filepath.Join(d.DataRoot, "content")
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestPull pulls from a real registry: capsa run of a missing image, capsa
// pull, docker pull, a second pull that fetches nothing, unknown names,
// and a manifest list.
func TestPull(t *testing.T) {
	reg := startRegistry(t)
	ref := reg.Host + "/busybox"
	push(t, ref+":latest", busyboxImage(t, runtime.GOARCH, "busybox"))
	d := daemontest.Start(t)

	t.Run("RunPullsMissing", func(t *testing.T) {
		ref := reg.Host + "/run"
		push(t, ref+":latest", busyboxImage(t, runtime.GOARCH, "run"))
		r := d.Capsa("run", "--rm", ref, "echo", "ok")
		if r.Code != 0 || r.Stdout != "ok\n" {
			t.Fatalf("capsa run %s: %v", ref, r)
		}
		if !strings.Contains(r.Stderr, "Unable to find image '"+ref+":latest' locally") ||
			!strings.Contains(r.Stderr, "Status: Downloaded newer image for "+ref+":latest") {
			t.Fatalf("capsa run's pull messages: %q", r.Stderr)
		}
		d.MustCapsa("rmi", ref)
	})

	t.Run("CapsaPull", func(t *testing.T) {
		r := d.Capsa("pull", ref)
		if r.Code != 0 {
			t.Fatalf("capsa pull: %v", r)
		}
		for _, want := range []string{"latest: Pulling from busybox\n", ": Pull complete\n", "Digest: sha256:",
			"Status: Downloaded newer image for " + ref + ":latest\n", ref + ":latest\n"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("capsa pull output lacks %q:\n%s", want, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, "Downloading") {
			t.Errorf("capsa pull printed byte counts when not on a terminal:\n%s", r.Stdout)
		}
		// The pull unpacked the layers: a container adds only its own
		// writable layer.
		before := snapshotDirs(t, d)
		id := d.MustCapsa("create", ref)
		if added := len(snapshotDirs(t, d)) - len(before); added != 1 {
			t.Errorf("create after pull made %d snapshots, want 1 (the container's): the pull did not unpack", added)
		}
		d.MustCapsa("rm", id)
		if out := d.MustCapsa("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, ref+":latest") {
			t.Fatalf("capsa images: %q", out)
		}
		if r := d.Capsa("run", "--rm", ref, "cat", "/etc/arch"); r.Code != 0 || r.Stdout != runtime.GOARCH+"\n" {
			t.Fatalf("capsa run: %v", r)
		}
	})

	t.Run("SecondPullFetchesNothing", func(t *testing.T) {
		before := blobDownloads(reg)
		if before == 0 {
			t.Fatalf("the registry's access log shows no blob download:\n%s", reg.out.String())
		}
		snaps := snapshotDirs(t, d)
		r := d.Capsa("pull", ref)
		if !slices.Equal(snapshotDirs(t, d), snaps) {
			t.Errorf("second pull changed the snapshots: %v, was %v", snapshotDirs(t, d), snaps)
		}
		if r.Code != 0 || !strings.Contains(r.Stdout, "Status: Image is up to date for "+ref+":latest") ||
			strings.Contains(r.Stdout, "Pull complete") || !strings.Contains(r.Stdout, "Already exists") {
			t.Fatalf("second capsa pull: %v", r)
		}
		if after := blobDownloads(reg); after != before {
			t.Fatalf("second pull downloaded %d blobs", after-before)
		}
	})

	t.Run("DockerPull", func(t *testing.T) {
		ref2 := reg.Host + "/library/bb:v1"
		push(t, ref2, busyboxImage(t, runtime.GOARCH, "bb"))
		r := d.Docker("pull", ref2)
		if r.Code != 0 || !strings.Contains(r.Stdout, "Status: Downloaded newer image for "+ref2) ||
			!strings.Contains(r.Stdout, "Digest: sha256:") {
			t.Fatalf("docker pull: %v", r)
		}
		if r := d.Docker("run", "--rm", ref2, "echo", "ok"); r.Code != 0 || r.Stdout != "ok\n" {
			t.Fatalf("docker run: %v", r)
		}
		if r := d.Docker("pull", reg.Host+"/nothere"); r.Code == 0 || !strings.Contains(r.Stderr, "not found") && !strings.Contains(r.Stderr, "unknown") {
			t.Fatalf("docker pull of an unknown repository: %v", r)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		images := d.MustCapsa("images", "-q", "--no-trunc")
		files := storeFiles(t, d)
		for _, bad := range []string{reg.Host + "/nothere", ref + ":nope", ref + "@sha256:" + strings.Repeat("0", 64)} {
			r := d.Capsa("pull", bad)
			if r.Code == 0 || !strings.Contains(r.Stderr, "unknown") {
				t.Errorf("capsa pull %s: %v", bad, r)
			}
		}
		if r := d.Capsa("pull", "127.0.0.1:1/x"); r.Code == 0 {
			t.Errorf("capsa pull from a closed port: %v", r)
		}
		if got := d.MustCapsa("images", "-q", "--no-trunc"); got != images {
			t.Errorf("images changed: %q, was %q", got, images)
		}
		if got := storeFiles(t, d); !slices.Equal(got, files) {
			t.Errorf("content store changed:\n%v\nwas\n%v", got, files)
		}
	})

	t.Run("ManifestListPicksHost", func(t *testing.T) {
		mref, _ := pushMultiArch(t, reg)
		if r := d.Capsa("pull", mref); r.Code != 0 {
			t.Fatalf("capsa pull %s: %v", mref, r)
		}
		if r := d.Capsa("run", "--rm", mref, "cat", "/etc/arch"); r.Code != 0 || r.Stdout != runtime.GOARCH+"\n" {
			t.Fatalf("capsa run %s: %v", mref, r)
		}
	})
}

// blobDownloads counts the registry's blob GETs in its access log.
func blobDownloads(r *registry) int {
	n := 0
	for _, l := range strings.Split(r.out.String(), "\n") {
		if strings.Contains(l, `"GET /v2/`) && strings.Contains(l, "/blobs/") {
			n++
		}
	}
	return n
}

// pushMultiArch pushes to reg an OCI index of busyboxImage for this
// machine's architecture and for another one (whose /etc/name says
// multi-ARCH), and returns its reference and the other architecture.
func pushMultiArch(t *testing.T, reg *registry) (ref, other string) {
	t.Helper()
	other = "s390x"
	if runtime.GOARCH == other {
		other = "arm64"
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{other, runtime.GOARCH} {
		img := mutate.MediaType(busyboxImage(t, arch, "multi-"+arch), types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch},
		}})
	}
	ref = reg.Host + "/multi:latest"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	return ref, other
}
