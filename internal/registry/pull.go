// Package registry pulls images from registries that speak the OCI
// distribution spec (go-containerregistry's client) into capsa's content
// store.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Media types a pull accepts besides the OCI ones.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
)

// Bounds on what a registry may send.
const (
	maxManifestSize = 4 << 20
	maxLayers       = 256
	// parallel is how many blobs download at once.
	parallel = 3
)

// Options tune a pull.
type Options struct {
	// Insecure lists registries (host[:port]) reached over plain HTTP;
	// loopback registries always may be.
	Insecure []string
	// Platform picks the manifest of an index; empty: linux and GOARCH.
	Platform ocispec.Platform
	// Auth, when set, are the credentials to use (a client's
	// X-Registry-Auth); otherwise Keychain finds them.
	Auth *Auth
	// Keychain finds credentials when Auth has none; nil: none
	// (anonymous), as dockerd, which uses only what its client sends:
	// a daemon that read its own ~/.docker/config.json would lend root's
	// credentials to every user of its socket.
	Keychain authn.Keychain
	// Progress, when set, hears of each step; it may be called from
	// several goroutines at once.
	Progress func(Progress)
	// Layers, when set, unpacks layers while they download.
	Layers LayerSink
	// Transport is the HTTP transport; nil: http.DefaultTransport.
	Transport http.RoundTripper
}

// Progress is one step of a pull, in the vocabulary of docker's progress
// stream: ID is a layer's short digest (or the tag for "Pulling from").
type Progress struct {
	ID      string
	Status  string
	Current int64
	Total   int64
}

// Result is what a pull stored.
type Result struct {
	// Target is the manifest or index the reference names.
	Target ocispec.Descriptor
	// Fetched counts the blobs downloaded (not already present).
	Fetched int
}

// Pull fetches the image ref names (for the platform) into cs: config and
// layers first, the manifest and the index last, so that a stored
// manifest's blobs are all present. Every blob is verified against its
// digest while it streams in.
func Pull(ctx context.Context, cs *content.Store, ref reference.Named, opts Options) (Result, error) {
	p := &puller{cs: cs, ref: ref, opts: opts}
	if p.opts.Platform.OS == "" {
		p.opts.Platform = ocispec.Platform{OS: "linux", Architecture: defaultArch()}
	}
	res, err := p.pull(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("pull %s: %w", reference.FamiliarString(ref), err)
	}
	return res, nil
}

type puller struct {
	cs    *content.Store
	ref   reference.Named
	opts  Options
	repo  name.Repository
	ropts []remote.Option
	// policy is the innermost transport; it records the manifest digest
	// the registry claims.
	policy *httpPolicy
	blobs  *blobClient

	mu      sync.Mutex
	fetched int
}

func (p *puller) progress(pr Progress) {
	if p.opts.Progress != nil {
		p.opts.Progress(pr)
	}
}

func (p *puller) pull(ctx context.Context) (Result, error) {
	repo, ropts, policy, err := remoteOptionsPolicy(ctx, p.ref, p.opts)
	if err != nil {
		return Result{}, err
	}
	p.repo, p.ropts, p.policy = repo, ropts, policy

	var top name.Reference = repo.Tag("latest")
	if d, ok := p.ref.(reference.Digested); ok {
		top = repo.Digest(d.Digest().String())
	} else if t, ok := p.ref.(reference.Tagged); ok {
		top = repo.Tag(t.Tag())
	}
	topDesc, topBytes, err := p.getManifest(top, "")
	if err != nil {
		return Result{}, err
	}
	tagOrDigest := top.Identifier()
	manDesc, manBytes := topDesc, topBytes
	if isIndex(topDesc.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(topBytes, &idx); err != nil {
			return Result{}, errdefs.Invalid(fmt.Sprintf("index %s: %v", topDesc.Digest, err))
		}
		child, ok := pick(idx.Manifests, p.opts.Platform)
		if !ok {
			return Result{}, errdefs.NotFound(fmt.Sprintf("no matching manifest for %s in the manifest list entries", platformString(p.opts.Platform)))
		}
		manDesc, manBytes, err = p.getManifest(repo.Digest(child.Digest.String()), child.Digest)
		if err != nil {
			return Result{}, err
		}
		if isIndex(manDesc.MediaType) {
			return Result{}, errdefs.NotImplemented(fmt.Sprintf("index %s: nested indexes are not supported", topDesc.Digest))
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manBytes, &m); err != nil {
		return Result{}, errdefs.Invalid(fmt.Sprintf("manifest %s: %v", manDesc.Digest, err))
	}
	if err := checkManifest(manDesc.Digest, m); err != nil {
		return Result{}, err
	}
	p.progress(Progress{ID: tagOrDigest, Status: "Pulling from " + reference.Path(p.ref)})
	if p.blobs, err = newBlobClient(ctx, repo, p.opts, policy); err != nil {
		return Result{}, err
	}

	if err := p.fetchBlobs(ctx, m); err != nil {
		return Result{}, err
	}
	if err := content.WriteBlob(ctx, p.cs, "pull-"+manDesc.Digest.String(), bytes.NewReader(manBytes), manDesc.Digest, manDesc.Size); err != nil {
		return Result{}, fmt.Errorf("manifest %s: %w", manDesc.Digest, err)
	}
	if topDesc.Digest != manDesc.Digest {
		if err := content.WriteBlob(ctx, p.cs, "pull-"+topDesc.Digest.String(), bytes.NewReader(topBytes), topDesc.Digest, topDesc.Size); err != nil {
			return Result{}, fmt.Errorf("index %s: %w", topDesc.Digest, err)
		}
	}
	return Result{Target: topDesc, Fetched: p.fetched}, nil
}

// remoteOptions names ref's repository for go-containerregistry and gives
// the options that reach it: credentials, the HTTP policy, ctx.
func remoteOptions(ctx context.Context, ref reference.Named, opts Options) (name.Repository, []remote.Option, error) {
	repo, ropts, _, err := remoteOptionsPolicy(ctx, ref, opts)
	return repo, ropts, err
}

// remoteOptionsPolicy is remoteOptions that also gives the transport
// that applies the HTTP policy.
func remoteOptionsPolicy(ctx context.Context, ref reference.Named, opts Options) (name.Repository, []remote.Option, *httpPolicy, error) {
	domain := reference.Domain(ref)
	var nopts []name.Option
	insecure := slices.Contains(opts.Insecure, domain)
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(domain+"/"+reference.Path(ref), nopts...)
	if err != nil {
		return name.Repository{}, nil, nil, errdefs.Invalid(err.Error())
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	policy := &httpPolicy{next: tr, insecure: insecure}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(policy),
		remote.WithUserAgent("capsa"),
	}
	auth, err := authFor(repo, opts)
	if err != nil {
		return name.Repository{}, nil, nil, err
	}
	ropts = append(ropts, remote.WithAuth(auth))
	return repo, ropts, policy, nil
}

// getManifest fetches a manifest or index and checks its digest (against
// want when the reference did not name it) and media type.
func (p *puller) getManifest(r name.Reference, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	if p.policy != nil {
		p.policy.resetManifestDigest()
	}
	d, err := remote.Get(r, p.ropts...)
	if err != nil {
		return ocispec.Descriptor{}, nil, classify(err)
	}
	b := d.Manifest
	if int64(len(b)) > maxManifestSize {
		return ocispec.Descriptor{}, nil, errdefs.Invalid(fmt.Sprintf("manifest %s: %d bytes, more than %d", r.Identifier(), len(b), maxManifestSize))
	}
	got := digest.FromBytes(b)
	if want == "" {
		if dr, ok := r.(name.Digest); ok {
			want = digest.Digest(dr.DigestStr())
		}
	}
	if want != "" && got != want {
		return ocispec.Descriptor{}, nil, errdefs.Invalid(fmt.Sprintf("manifest %s: content has digest %s", want, got))
	}
	// Fetched by tag, the registry's Docker-Content-Digest header is the
	// only digest to check the content against (go-containerregistry
	// leaves it unchecked; docker and containerd refuse a mismatch).
	if claimed := p.policy.manifestDigest(); want == "" && claimed != "" && claimed.Algorithm() == got.Algorithm() && claimed != got {
		return ocispec.Descriptor{}, nil, errdefs.Invalid(fmt.Sprintf("manifest %s: content has digest %s", claimed, got))
	}
	mt := string(d.MediaType)
	switch mt {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
	default:
		return ocispec.Descriptor{}, nil, errdefs.NotImplemented(fmt.Sprintf("manifest %s: media type %q not supported", got, mt))
	}
	return ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(b))}, b, nil
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

// checkManifest refuses, before any download, what capsa cannot unpack.
func checkManifest(d digest.Digest, m ocispec.Manifest) error {
	if m.SchemaVersion != 2 {
		return errdefs.Invalid(fmt.Sprintf("manifest %s: schemaVersion %d, want 2", d, m.SchemaVersion))
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != mediaTypeDockerConfig {
		return errdefs.NotImplemented(fmt.Sprintf("manifest %s: config media type %q not supported", d, m.Config.MediaType))
	}
	if len(m.Layers) > maxLayers {
		return errdefs.Invalid(fmt.Sprintf("manifest %s: %d layers, more than %d", d, len(m.Layers), maxLayers))
	}
	for i, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if err := l.Digest.Validate(); err != nil {
			return errdefs.Invalid(fmt.Sprintf("manifest %s: blob %d: %v", d, i, err))
		}
		if l.Size < 0 {
			return errdefs.Invalid(fmt.Sprintf("manifest %s: blob %d: negative size", d, i))
		}
		if i == 0 {
			continue
		}
		switch l.MediaType {
		case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, mediaTypeDockerLayerGzip, mediaTypeDockerLayer:
		default:
			return errdefs.NotImplemented(fmt.Sprintf("manifest %s: layer %s: media type %q not supported", d, l.Digest, l.MediaType))
		}
	}
	return nil
}

// LayerSink unpacks layers while they download, so that a pull ends with
// its layers unpacked instead of starting to unpack then.
type LayerSink interface {
	// Wants reports whether the layer whose diff IDs, from the image's
	// bottom layer up to it, are diffIDs should stream to Layer (not if
	// that stack of layers is already unpacked).
	Wants(ctx context.Context, diffIDs []digest.Digest) bool
	// Layer consumes a layer's compressed bytes as they arrive, to EOF,
	// and returns once it did or failed; its error fails the pull. diffIDs
	// are as for Wants. It must check the uncompressed bytes against the
	// layer's diff ID itself; the pull checks the compressed ones against
	// desc before it succeeds.
	Layer(ctx context.Context, desc ocispec.Descriptor, diffIDs []digest.Digest, r io.Reader) error
}

// maxConfigSize bounds an image config.
const maxConfigSize = 8 << 20

// fetchBlobs downloads the config, then the layers not yet in the store,
// a few at a time, each streamed to the LayerSink too when it wants it.
func (p *puller) fetchBlobs(ctx context.Context, m ocispec.Manifest) error {
	if _, err := p.cs.Info(ctx, m.Config.Digest); err != nil {
		if err := p.fetch(ctx, m.Config, "config", nil); err != nil {
			return err
		}
	}
	diffIDs, err := p.diffIDs(ctx, m)
	if err != nil {
		return err
	}
	layers := m.Layers
	present := make([]bool, len(layers))
	for i, l := range layers {
		if _, err := p.cs.Info(ctx, l.Digest); err == nil {
			present[i] = true
			p.progress(Progress{ID: shortDigest(l.Digest), Status: "Already exists"})
		} else {
			p.progress(Progress{ID: shortDigest(l.Digest), Status: "Pulling fs layer"})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	fetching := map[digest.Digest]bool{}
	for i, d := range layers {
		if present[i] || fetching[d.Digest] {
			continue // a layer twice in one image comes once; the sink's owner unpacks the second from the store
		}
		fetching[d.Digest] = true
		var sink func(io.Reader) error
		if s := p.opts.Layers; s != nil && s.Wants(ctx, diffIDs[:i+1]) {
			sink = func(r io.Reader) error { return s.Layer(gctx, d, diffIDs[:i+1], r) }
		}
		g.Go(func() error { return p.fetch(gctx, d, "layer", sink) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// diffIDs reads the layers' diff IDs from the image config (in the
// store, verified), one per layer of m.
func (p *puller) diffIDs(ctx context.Context, m ocispec.Manifest) ([]digest.Digest, error) {
	b, err := p.cs.ReadAll(ctx, m.Config.Digest, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var c ocispec.Image
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("config %s: %v", m.Config.Digest, err))
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return nil, errdefs.Invalid(fmt.Sprintf("config %s: %d diff_ids for %d layers", m.Config.Digest, len(c.RootFS.DiffIDs), len(m.Layers)))
	}
	for i, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("config %s: diff_id %d: %v", m.Config.Digest, i, err))
		}
	}
	return c.RootFS.DiffIDs, nil
}

// fetch streams one blob into the store, and to sink when there is one.
// The content store checks the blob's size while it streams and its
// digest before the blob becomes visible. An interrupted earlier pull's
// bytes are kept (the ingest) and only the rest is asked for.
func (p *puller) fetch(ctx context.Context, d ocispec.Descriptor, what string, sink func(io.Reader) error) error {
	if err := p.fetchBlob(ctx, d, what == "layer", sink); err != nil {
		return fmt.Errorf("%s %s: %w", what, d.Digest, classify(err))
	}
	return nil
}

func (p *puller) fetchBlob(ctx context.Context, d ocispec.Descriptor, isLayer bool, sink func(io.Reader) error) (retErr error) {
	ref := "pull-" + d.Digest.String()
	w, err := p.cs.Writer(ctx, ref, d.Digest, d.Size)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return nil // another pull landed it meanwhile; the sink's owner unpacks it from the store
	}
	if err != nil {
		return err
	}
	abort := false
	defer func() {
		w.Close() // before an Abort: the open writer holds the ingest's lock
		if abort || errors.Is(retErr, errdefs.ErrInvalid) {
			// The registry sent more than the manifest says, or other
			// content: what the ingest holds is not worth resuming.
			_ = p.cs.Abort(context.WithoutCancel(ctx), ref)
		}
	}()
	off := w.Offset()
	if off > 0 {
		sink = nil // a resumed blob is unpacked from the store once it landed
	}
	body, err := p.blobs.open(ctx, d.Digest, d.Size, off)
	if err != nil {
		return err
	}
	defer body.Close()
	var r io.Reader = body
	id := shortDigest(d.Digest)
	if isLayer {
		r = &progressReader{r: r, n: off, total: d.Size, report: func(n int64) {
			p.progress(Progress{ID: id, Status: "Downloading", Current: n, Total: d.Size})
		}}
	}
	if sink == nil {
		_, err = io.Copy(w, r)
	} else {
		err = tee(r, w, sink)
	}
	var se sinkError
	if errors.As(err, &se) {
		// The layer could not be unpacked. A tampered blob fails that
		// way too, and its digest is the clearer cause: read on to
		// tell. Either way the ingest goes (its bytes may be the
		// hostile ones a resume must not build on).
		abort = true
		if _, cerr := io.Copy(w, r); errors.Is(cerr, errdefs.ErrInvalid) || (cerr == nil && w.Digest() != d.Digest) {
			return errdefs.Invalid(fmt.Sprintf("content does not match its digest (%v)", se.err))
		}
		return se.err
	}
	if err != nil {
		return err
	}
	if err := w.Commit(ctx); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return err
	}
	p.mu.Lock()
	p.fetched++
	p.mu.Unlock()
	if isLayer {
		p.progress(Progress{ID: id, Status: "Download complete"})
		p.progress(Progress{ID: id, Status: "Pull complete"})
	}
	return nil
}

// tee copies r to w and, through a pipe, to sink, which runs alongside.
// An error of either side ends both.
func tee(r io.Reader, w io.Writer, sink func(io.Reader) error) error {
	pr, pw := io.Pipe()
	sinkErr := make(chan error, 1)
	go func() {
		err := sink(pr)
		if err == nil {
			// The sink is done with the layer; what follows its end (the
			// compressed stream's padding) still goes to the store.
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(err)
		sinkErr <- err
	}()
	_, err := io.Copy(io.MultiWriter(w, pw), r)
	pw.CloseWithError(err)
	serr := <-sinkErr
	if serr != nil && (err == nil || errors.Is(err, serr)) {
		return sinkError{serr}
	}
	return err
}

// sinkError is a LayerSink's failure, told apart from the download's.
type sinkError struct{ err error }

func (e sinkError) Error() string { return e.err.Error() }
func (e sinkError) Unwrap() error { return e.err }

// progressReader reports the bytes read, at most every 100ms.
type progressReader struct {
	r      io.Reader
	n      int64
	total  int64
	last   time.Time
	report func(int64)
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	if now := time.Now(); now.Sub(pr.last) >= 100*time.Millisecond || (pr.n == pr.total && n > 0) {
		pr.last = now
		pr.report(pr.n)
	}
	return n, err
}

// shortDigest is the 12-hex-digit ID docker shows for a layer.
func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// classify maps the registry's answers to capsa's error categories and
// keeps them to one line: an unstructured answer's body (an HTML error
// page, a proxy's text) is reduced to its status.
func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if len(te.Errors) == 0 && te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden {
			msg := fmt.Sprintf("unexpected status code %d %s", te.StatusCode, http.StatusText(te.StatusCode))
			if te.Request != nil {
				msg = te.Request.Method + " " + te.Request.URL.Redacted() + ": " + msg
			}
			if te.StatusCode == http.StatusNotFound {
				return errdefs.NotFound(msg)
			}
			return errors.New(msg)
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return errdefs.NotFound(te.Error())
		case http.StatusUnauthorized, http.StatusForbidden:
			msg := te.Error()
			if len(te.Errors) == 0 {
				// A HEAD answer has no body to say why.
				msg = "unauthorized: authentication required"
			}
			return errdefs.Permission(msg + " (the repository does not exist or needs a login)")
		}
	}
	return err
}

// httpPolicy refuses plain HTTP to registries that are neither loopback
// nor listed as insecure (go-containerregistry also allows private
// networks; docker does not).
// It also records the Docker-Content-Digest of the last manifest GET.
type httpPolicy struct {
	next     http.RoundTripper
	insecure bool

	// mu guards claimed.
	mu      sync.Mutex
	claimed digest.Digest
}

func (h *httpPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !h.insecure && !isLoopback(req.URL.Hostname()) {
		return nil, errdefs.Permission(fmt.Sprintf("registry %s: plain HTTP refused; list it in insecure-registries", req.URL.Host))
	}
	resp, err := h.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
		if d, derr := digest.Parse(resp.Header.Get("Docker-Content-Digest")); derr == nil {
			h.mu.Lock()
			h.claimed = d
			h.mu.Unlock()
		}
	}
	return resp, err
}

func (h *httpPolicy) resetManifestDigest() {
	h.mu.Lock()
	h.claimed = ""
	h.mu.Unlock()
}

// manifestDigest is the digest the last manifest GET claimed, if any.
func (h *httpPolicy) manifestDigest() digest.Digest {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.claimed
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
