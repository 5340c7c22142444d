package registry_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/capsa-dev/capsa/internal/busyboxtest"
	"github.com/capsa-dev/capsa/internal/daemontest"
)

// blobProxy is a reverse proxy in front of a registry that serves blob
// GETs itself, so that it can count, throttle and cut them: the first
// cuts GETs of each blob over 1 MiB end after cutAfter bytes of body (the
// connection is dropped), and every blob body goes out at rate bytes a
// second (0: at once). Range headers are forwarded.
type blobProxy struct {
	srv      *httptest.Server
	upstream *url.URL
	rp       *httputil.ReverseProxy

	cuts     int
	cutAfter int64

	// mu guards the fields below.
	mu     sync.Mutex
	rate   int64
	gets   map[string]int      // blob digest → GETs
	ranges map[string][]string // blob digest → Range headers asked for
	served map[string]int64    // blob digest → body bytes sent
}

func newBlobProxy(t *testing.T, upstreamHost string) *blobProxy {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: upstreamHost}
	p := &blobProxy{upstream: u, rp: httputil.NewSingleHostReverseProxy(u),
		gets: map[string]int{}, ranges: map[string][]string{}, served: map[string]int64{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *blobProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *blobProxy) setRate(r int64) {
	p.mu.Lock()
	p.rate = r
	p.mu.Unlock()
}

// stats returns a blob's GETs, Range headers and bytes served so far.
func (p *blobProxy) stats(dg string) (int, []string, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[dg], slices.Clone(p.ranges[dg]), p.served[dg]
}

// reset forgets the counts.
func (p *blobProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gets, p.ranges, p.served = map[string]int{}, map[string][]string{}, map[string]int64{}
}

func (p *blobProxy) serve(w http.ResponseWriter, r *http.Request) {
	i := strings.LastIndex(r.URL.Path, "/blobs/")
	if r.Method != http.MethodGet || i < 0 || !strings.HasPrefix(r.URL.Path, "/v2/") {
		p.rp.ServeHTTP(w, r)
		return
	}
	dg := r.URL.Path[i+len("/blobs/"):]
	p.mu.Lock()
	p.gets[dg]++
	n := p.gets[dg]
	if rg := r.Header.Get("Range"); rg != "" {
		p.ranges[dg] = append(p.ranges[dg], rg)
	}
	p.mu.Unlock()

	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.upstream.String()+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, h := range []string{"Range", "Authorization", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	cut := n <= p.cuts && resp.ContentLength > 1<<20
	var sent int64
	buf := make([]byte, 16<<10)
	for {
		m, rerr := resp.Body.Read(buf)
		if cut && sent+int64(m) > p.cutAfter {
			m = int(p.cutAfter - sent)
		}
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent += int64(m)
			p.mu.Lock()
			p.served[dg] += int64(m)
			rate := p.rate
			p.mu.Unlock()
			if rate > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Duration(int64(m) * int64(time.Second) / rate)):
				}
			}
		}
		if cut && sent >= p.cutAfter {
			// Drop the connection mid-body: the client has fewer bytes
			// than the Content-Length promised.
			panic(http.ErrAbortHandler)
		}
		if rerr != nil {
			return
		}
	}
}

// randomFileLayer is a layer holding one file of size random bytes at
// path; it returns the layer and the file's sha256.
func randomFileLayer(t *testing.T, path string, size int) (v1.Layer, string) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := filepath.Dir(path)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return l, hex.EncodeToString(s[:])
}

// bigImage is busybox (sh, cat, ls, sha256sum) with one layer per size of
// random data, /data/l<i>; it returns the image, the random layers'
// digests and their files' sha256.
func bigImage(t *testing.T, sizes ...int) (v1.Image, []string, []string) {
	t.Helper()
	bb := busyboxtest.Tar(t, "sh", "cat", "ls", "sha256sum")
	base, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(bb)), nil })
	if err != nil {
		t.Fatal(err)
	}
	layers := []v1.Layer{base}
	var digests, sums []string
	for i, size := range sizes {
		l, s := randomFileLayer(t, fmt.Sprintf("data/l%d", i), size)
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
		digests, sums = append(digests, d.String()), append(sums, s)
	}
	img := stackImage(t, empty.Image, runtime.GOARCH, []string{"sh"}, layers...)
	return img, digests, sums
}

// layerSize is the compressed size of the layer dg of img.
func layerSize(t *testing.T, img v1.Image, dg string) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.Digest.String() == dg {
			return l.Size
		}
	}
	t.Fatalf("no layer %s in the image", dg)
	return 0
}

// snapshotDirs lists the overlay snapshotter's snapshot directories.
func snapshotDirs(t *testing.T, d *daemontest.Daemon) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.DataRoot, "snapshots", "overlay", "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkSums runs img and compares /data/l<i>'s sha256 with sums.
func checkSums(t *testing.T, d *daemontest.Daemon, ref string, sums []string) {
	t.Helper()
	args := []string{"run", "--rm", ref, "sha256sum"}
	for i := range sums {
		args = append(args, fmt.Sprintf("/data/l%d", i))
	}
	r := d.Capsa(args...)
	if r.Code != 0 {
		t.Fatalf("capsa run %s sha256sum: %v", ref, r)
	}
	for i, s := range sums {
		if want := fmt.Sprintf("%s  /data/l%d\n", s, i); !strings.Contains(r.Stdout, want) {
			t.Errorf("in the container, /data/l%d: got\n%s\nwant %q", i, r.Stdout, want)
		}
	}
}

// TestPullResumesDroppedLayer pulls through a proxy that drops each big
// layer's connection after 1 MiB, twice: the pull goes on with Range
// requests for the rest (not from the start), and the layers' files are
// whole in a container.
func TestPullResumesDroppedLayer(t *testing.T) {
	reg := startRegistry(t)
	img, digests, sums := bigImage(t, 4<<20, 4<<20, 4<<20)
	push(t, reg.Host+"/big:v1", img)
	p := newBlobProxy(t, reg.Host)
	p.cuts, p.cutAfter = 2, 1<<20
	d := daemontest.Start(t)

	ref := p.host() + "/big:v1"
	start := time.Now()
	if r := d.Capsa("pull", ref); r.Code != 0 {
		t.Fatalf("capsa pull %s through the dropping proxy: %v", ref, r)
	}
	t.Logf("pull through the dropping proxy took %v", time.Since(start))
	for _, dg := range digests {
		size := layerSize(t, img, dg)
		gets, ranges, served := p.stats(dg)
		t.Logf("layer %s (%d bytes): %d GETs, ranges %q, %d bytes served", dg, size, gets, ranges, served)
		if gets != 3 || len(ranges) != 2 {
			t.Errorf("layer %s: %d GETs with Range headers %q; want 3 GETs, the last 2 with a Range", dg, gets, ranges)
		}
		for _, rg := range ranges {
			if !strings.HasPrefix(rg, "bytes=") || strings.HasPrefix(rg, "bytes=0-") {
				t.Errorf("layer %s: Range %q does not ask for the rest", dg, rg)
			}
		}
		if served*2 >= size*3 {
			t.Errorf("layer %s: the proxy served %d bytes of %d: restarted, not resumed", dg, served, size)
		}
	}
	checkSums(t, d, ref, sums)
	if out := d.MustCapsa("run", "--rm", ref, "ls", "/data"); out != "l0\nl1\nl2" {
		t.Errorf("ls /data in the container: %q", out)
	}
}
