package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Resuming a blob whose connection dropped.
const (
	// maxResumes bounds the requests made for the rest of one blob after
	// its connection dropped; each must have moved the download on.
	maxResumes = 5
	// resumeBackoff is the wait before the first resume; it doubles.
	resumeBackoff = 100 * time.Millisecond
)

// blobClient fetches a repository's blobs over one authenticated client
// (go-containerregistry's transport: the registry's token service or
// basic auth, scoped to pulling from the repository).
type blobClient struct {
	client *http.Client
	repo   name.Repository
}

func newBlobClient(ctx context.Context, repo name.Repository, opts Options, policy *httpPolicy) (*blobClient, error) {
	auth, err := authFor(repo, opts)
	if err != nil {
		return nil, err
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, policy, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, classify(err)
	}
	return &blobClient{client: &http.Client{Transport: tr}, repo: repo}, nil
}

func (c *blobClient) url(d digest.Digest) string {
	return fmt.Sprintf("%s://%s/v2/%s/blobs/%s", c.repo.Registry.Scheme(), c.repo.RegistryStr(), c.repo.RepositoryStr(), d)
}

// open returns a reader of the blob d (size bytes) from offset on. When
// the connection drops before the end, the reader asks the registry for
// the rest (an HTTP Range request) and goes on, up to maxResumes times,
// so a caller sees one unbroken stream. The content is not verified
// here: the caller hashes what it reads.
func (c *blobClient) open(ctx context.Context, d digest.Digest, size, offset int64) (io.ReadCloser, error) {
	b := &blobReader{ctx: ctx, c: c, d: d, size: size, off: offset}
	if err := b.connect(); err != nil {
		return nil, err
	}
	return b, nil
}

type blobReader struct {
	ctx  context.Context
	c    *blobClient
	d    digest.Digest
	size int64
	off  int64 // bytes of the blob delivered, counting the starting offset

	body    io.ReadCloser // nil after a drop, until the next connect
	dropped error         // why the last connection ended early
	resumes int
	// atLastConnect is off when the body was opened: a resume that
	// delivers nothing does not count as progress.
	atLastConnect int64
}

func (b *blobReader) Read(p []byte) (int, error) {
	for {
		if b.body == nil {
			if err := b.resume(); err != nil {
				return 0, err
			}
		}
		n, err := b.body.Read(p)
		b.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && (b.size <= 0 || b.off >= b.size):
			return n, io.EOF
		case errors.Is(err, io.EOF):
			err = io.ErrUnexpectedEOF
		}
		// The connection dropped (or the body ended early): ask for the
		// rest, now or at the next Read.
		b.body.Close()
		b.body = nil
		b.dropped = err
		if b.ctx.Err() != nil || b.size <= 0 {
			return n, b.cutOff(err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume reconnects after a drop, after a back-off, unless the drops
// have used up their tries or the last connection gave nothing.
func (b *blobReader) resume() error {
	if b.resumes >= maxResumes || (b.resumes > 0 && b.off == b.atLastConnect) {
		return b.cutOff(b.dropped)
	}
	select {
	case <-b.ctx.Done():
		return b.ctx.Err()
	case <-time.After(resumeBackoff << b.resumes):
	}
	b.resumes++
	return b.connect()
}

func (b *blobReader) cutOff(err error) error {
	return fmt.Errorf("download cut off after %d of %d bytes (%d resumes): %w", b.off, b.size, b.resumes, err)
}

// connect asks for the blob from b.off on. A registry that ignores the
// Range and sends it all has the bytes already delivered skipped.
func (b *blobReader) connect() error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.c.url(b.d), nil)
	if err != nil {
		return err
	}
	if b.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(b.off, 10)+"-")
	}
	resp, err := b.c.client.Do(req)
	if err != nil {
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		return b.cutOff(err)
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		resp.Body.Close()
		return classify(err)
	}
	body := resp.Body
	switch {
	case b.off > 0 && resp.StatusCode == http.StatusPartialContent:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != b.off {
			resp.Body.Close()
			return errdefs.Invalid(fmt.Sprintf("blob %s: asked for bytes from %d, got Content-Range %q", b.d, b.off, resp.Header.Get("Content-Range")))
		}
	case b.off > 0:
		if _, err := io.CopyN(io.Discard, body, b.off); err != nil {
			resp.Body.Close()
			return b.cutOff(err)
		}
	}
	b.body = body
	b.atLastConnect = b.off
	return nil
}

// contentRangeStart parses the first byte of "bytes START-END/SIZE".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return n, err == nil
}

func (b *blobReader) Close() error {
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}
