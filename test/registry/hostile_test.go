package registry_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// hostileRegistry speaks just enough of the distribution API (/v2/,
// manifests and blobs by digest) to serve one image per repository, with
// what each repository does wrong decided by its name.
type hostileRegistry struct {
	srv      *httptest.Server
	manifest []byte
	mt       string
	blobs    map[string][]byte // digest → content
	layer0   string            // the first layer's digest
	good     map[string]bool   // every genuine digest of the image
}

func newHostileRegistry(t *testing.T, img v1.Image) *hostileRegistry {
	t.Helper()
	h := &hostileRegistry{blobs: map[string][]byte{}, good: map[string]bool{}}
	var err error
	if h.manifest, err = img.RawManifest(); err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	h.mt = string(mt)
	md, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.good[md.String()] = true
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cd, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	h.blobs[cd.String()] = cfg
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		h.blobs[d.String()] = b
		if i == 0 {
			h.layer0 = d.String()
		}
	}
	for d := range h.blobs {
		h.good[d] = true
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hostileRegistry) host() string { return strings.TrimPrefix(h.srv.URL, "http://") }

func (h *hostileRegistry) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
		w.WriteHeader(http.StatusOK)
		return
	}
	// /v2/<repo>/(manifests|blobs)/<ref>
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	var repo, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/"} {
		if i := strings.LastIndex(p, k); i >= 0 {
			repo, kind, ref = p[:i], strings.Trim(k, "/"), p[i+len(k):]
		}
	}
	if kind == "" {
		http.NotFound(w, r)
		return
	}
	switch repo {
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<html><body><h1>Welcome to our portal</h1></body></html>")
		return
	case "fail500":
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	case "html500":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<html>\n<head><title>500 Internal Server Error</title></head>\n<body>\n<center><h1>500 Internal Server Error</h1></center>\n</body>\n</html>\n")
		return
	}
	if kind == "manifests" {
		body, mt := h.manifest, h.mt
		dg := "sha256:" + hex.EncodeToString(sum(body))
		switch repo {
		case "badmanifest":
			// The content differs from what its digest says.
			body = []byte(strings.Replace(string(body), `"schemaVersion": 2`, `"schemaVersion":2 `, 1))
			if string(body) == string(h.manifest) {
				body = append(append([]byte{}, h.manifest...), ' ')
			}
		case "badmediatype":
			mt = "application/vnd.example.manifest.v9+json"
		}
		w.Header().Set("Content-Type", mt)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		// badmanifest's header names the genuine digest, not the body's.
		w.Header().Set("Docker-Content-Digest", dg)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	}
	body, ok := h.blobs[ref]
	if !ok {
		http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`, http.StatusNotFound)
		return
	}
	if ref == h.layer0 {
		switch repo {
		case "badlayer":
			// The same size, other content.
			body = append([]byte{}, body...)
			body[len(body)/2] ^= 0xff
		case "longlayer":
			body = append(append([]byte{}, body...), []byte("tampered")...)
		case "truncated":
			// Promise more than is sent, then drop the connection.
			hj, ok := w.(http.Hijacker)
			if !ok {
				http.Error(w, "no hijack", http.StatusInternalServerError)
				return
			}
			conn, bw, err := hj.Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))
			_, _ = bw.Write(body[:len(body)/2])
			_ = bw.Flush()
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// committedBlobs maps each committed blob of the daemon's content store to
// whether its content matches its name.
func committedBlobs(t *testing.T, d *daemontest.Daemon) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := filepath.Join(d.DataRoot, "content", "blobs", "sha256")
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		hh := sha256.New()
		if _, err := io.Copy(hh, bufio.NewReader(f)); err != nil {
			return err
		}
		out["sha256:"+e.Name()] = hex.EncodeToString(hh.Sum(nil)) == e.Name()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileRegistry pulls from a registry that misbehaves on purpose:
// each pull fails with one line naming the image (and the layer where
// there is one), leaves no image behind, and commits no blob that is not
// verified.
func TestHostileRegistry(t *testing.T) {
	img := busyboxImage(t, runtime.GOARCH, "hostile")
	h := newHostileRegistry(t, img)
	d := daemontest.Start(t)
	d.ImportBusybox()

	md, _ := img.Digest()
	for _, tc := range []struct {
		repo string
		ref  string // empty: REPO:v1
		want []string
	}{
		{repo: "badmanifest", want: []string{"digest"}},
		{repo: "badmanifest", ref: "@" + md.String(), want: []string{"digest"}},
		{repo: "badlayer", want: []string{"layer " + h.layer0, "digest"}},
		{repo: "longlayer", want: []string{"layer " + h.layer0, "more than"}},
		{repo: "badmediatype", want: []string{"media type", "application/vnd.example.manifest.v9+json"}},
		{repo: "truncated", want: []string{"layer " + h.layer0, "cut off"}},
		{repo: "html", want: nil},
		{repo: "fail500", want: []string{"500"}},
		{repo: "html500", want: []string{"500"}},
	} {
		ref := h.host() + "/" + tc.repo + ":v1"
		if tc.ref != "" {
			ref = h.host() + "/" + tc.repo + tc.ref
		}
		t.Run(tc.repo+tc.ref, func(t *testing.T) {
			images := d.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}")
			before := committedBlobs(t, d)
			r := d.Capsa("pull", ref)
			if r.Code == 0 {
				t.Fatalf("capsa pull %s succeeded: %v", ref, r)
			}
			msg := strings.TrimSpace(r.Stderr)
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line:\n%s", msg)
			}
			if !strings.Contains(msg, h.host()+"/"+tc.repo) {
				t.Errorf("error does not name the image %s: %s", ref, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			t.Logf("capsa pull %s: %s", ref, msg)
			if got := d.MustCapsa("images", "-a", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}"); got != images {
				t.Errorf("capsa images changed:\n%s\nwas\n%s", got, images)
			}
			if r := d.Capsa("image", "inspect", ref); r.Code == 0 {
				t.Errorf("an image record for %s exists: %v", ref, r)
			}
			if strings.Contains(msg, "<") {
				t.Errorf("error quotes the registry's HTML: %s", msg)
			}
			for dg, ok := range committedBlobs(t, d) {
				if !ok {
					t.Errorf("committed blob %s does not match its digest", dg)
				}
				if !before[dg] && !h.good[dg] {
					t.Errorf("new committed blob %s is none of the image's", dg)
				}
			}
		})
	}
	// The server itself works (last: its blobs would be "Already exists"
	// for the cases above): a well-behaved repository pulls and runs.
	if r := d.Capsa("pull", h.host()+"/good:v1"); r.Code != 0 {
		t.Fatalf("capsa pull from the well-behaved repository: %v", r)
	}
	if r := d.Capsa("run", "--rm", h.host()+"/good:v1", "cat", "/etc/name"); r.Code != 0 || r.Stdout != "hostile\n" {
		t.Fatalf("capsa run of the well-behaved image: %v", r)
	}
}
