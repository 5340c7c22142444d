package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

// flakyBlobServer serves one blob with Range support and cuts its first
// cuts connections off after cutAt bytes of their body.
type flakyBlobServer struct {
	blob        []byte
	cutAt       int
	cuts        int
	ignoreRange bool

	mu       sync.Mutex
	requests []string // the Range header of each request
	served   int
}

func (f *flakyBlobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.Header.Get("Range"))
	cut := f.cuts > 0
	f.cuts--
	f.mu.Unlock()
	if f.ignoreRange {
		r.Header.Del("Range")
	}
	if !cut {
		f.count(w, r, len(f.blob))
		return
	}
	// Send the head and cutAt bytes from where the Range starts, then
	// drop the connection.
	start := 0
	if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		start, _ = strconv.Atoi(strings.TrimSuffix(v, "-"))
		w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(f.blob)-1)+"/"+strconv.Itoa(len(f.blob)))
		w.Header().Set("Content-Length", strconv.Itoa(len(f.blob)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.blob)))
		w.WriteHeader(http.StatusOK)
	}
	end := min(start+f.cutAt, len(f.blob))
	w.Write(f.blob[start:end])
	w.(http.Flusher).Flush()
	f.add(end - start)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *flakyBlobServer) count(w http.ResponseWriter, r *http.Request, n int) {
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "blob", time.Time{}, bytes.NewReader(f.blob))
	f.add(cw.n)
}

func (f *flakyBlobServer) add(n int) {
	f.mu.Lock()
	f.served += n
	f.mu.Unlock()
}

type countingWriter struct {
	http.ResponseWriter
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += n
	return n, err
}

func blobClientFor(t *testing.T, srv *httptest.Server) *blobClient {
	t.Helper()
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/test/blob")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newBlobClient(context.Background(), repo, Options{}, &httpPolicy{next: http.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBlobResume: a blob whose connection drops is read on with Range
// requests, as one unbroken stream, whether the registry honours the
// Range or sends the whole blob again.
func TestBlobResume(t *testing.T) {
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	for _, tc := range []struct {
		name        string
		cuts        int
		cutAt       int
		ignoreRange bool
		wantErr     string
	}{
		{name: "two drops", cuts: 2, cutAt: 300 << 10},
		{name: "range ignored", cuts: 1, cutAt: 300 << 10, ignoreRange: true},
		// Each drop moves on, but more than maxResumes are needed.
		{name: "drops every time", cuts: 100, cutAt: 100 << 10, wantErr: "cut off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flakyBlobServer{blob: blob, cutAt: tc.cutAt, cuts: tc.cuts, ignoreRange: tc.ignoreRange}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := blobClientFor(t, srv)
			rc, err := c.open(context.Background(), digest.FromBytes(blob), int64(len(blob)), 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, blob) {
				t.Fatalf("got %d bytes, not the blob", len(got))
			}
			// Close waits for the handlers, which count what they served
			// after the client may have read it all.
			srv.Close()
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.requests) != tc.cuts+1 || f.requests[0] != "" || !strings.HasPrefix(f.requests[1], "bytes=") {
				t.Fatalf("requests (Range headers) = %q", f.requests)
			}
			if !tc.ignoreRange && f.served != len(blob) {
				t.Fatalf("served %d bytes for a %d-byte blob: the resumes asked for more than the rest", f.served, len(blob))
			}
		})
	}
}

// TestBlobStartOffset: a resumed ingest asks only for the rest.
func TestBlobStartOffset(t *testing.T) {
	blob := []byte(strings.Repeat("0123456789", 1000))
	f := &flakyBlobServer{blob: blob}
	srv := httptest.NewServer(f)
	defer srv.Close()
	rc, err := blobClientFor(t, srv).open(context.Background(), digest.FromBytes(blob), int64(len(blob)), 4321)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, blob[4321:]) {
		t.Fatalf("got %d bytes, err %v; want the %d after the offset", len(got), err, len(blob)-4321)
	}
	if f.requests[0] != "bytes=4321-" {
		t.Fatalf("Range = %q", f.requests[0])
	}
}
