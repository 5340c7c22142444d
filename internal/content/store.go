// Package content is capsa's content store: immutable blobs addressed by
// their digest (OCI image-spec content: layers, configs, manifests, indexes),
// with resumable, verified, atomic writes.
//
// Layout under the root directory:
//
//	blobs/sha256/<hex>          committed blobs, read-only files (0444)
//	ingest/<sha256(ref)>/data   an in-progress write: the bytes so far ...
//	ingest/<sha256(ref)>/meta   ... and the ref, expected digest and size (JSON)
//
// A write streams into ingest/…/data while hashing; Commit checks the size and
// the digest, fsyncs the data, hard-links it into blobs/ (link(2) fails if the
// blob exists, so of two writers of one digest exactly one lands it and the
// other gets ErrAlreadyExists), fsyncs blobs/sha256 and removes the ingest.
// A crash at any moment leaves either no blob or a whole, verified one; a
// half-written ingest is resumed by the next Writer with the same ref (its
// Offset says where to continue) or removed by CleanIngests.
//
// The ingest directory is named by the digest of the ref, not the ref itself,
// so that any ref (containing "/", ":" or "..") is a safe single path element;
// the ref is kept in the meta file for listings. A live writer holds an
// exclusive flock(2) on its data file, released by the kernel when the
// process dies, which is how a crashed write is told from a running one.
package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Info describes a committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Store is a content store rooted at a directory. It is safe for concurrent
// use by goroutines and by processes sharing the root.
type Store struct {
	root string
}

// Open opens (creating if needed) the content store at root.
func Open(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open content store %q: %w", root, err)
		}
	}
	return &Store{root: root}, nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

// checkDigest refuses malformed digests and algorithms other than sha256,
// the only one blobs/ holds.
func checkDigest(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		if errors.Is(err, digest.ErrDigestUnsupported) {
			return errdefs.NotImplemented(fmt.Sprintf("digest %q: algorithm not supported", dgst))
		}
		return errdefs.Invalid(fmt.Sprintf("digest %q: %v", dgst, err))
	}
	if dgst.Algorithm() != digest.SHA256 {
		return errdefs.NotImplemented(fmt.Sprintf("digest %q: algorithm %q not supported", dgst, dgst.Algorithm()))
	}
	return nil
}

// BlobPath returns the path of the blob dgst (which may not exist). Callers
// outside this package should prefer ReaderAt.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) {
	if err := checkDigest(dgst); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", string(dgst.Algorithm()), dgst.Encoded()), nil
}

// Info returns the size and creation time of a committed blob.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, errdefs.NotFound(fmt.Sprintf("content %s: not found", dgst))
		}
		return Info{}, fmt.Errorf("content %s: %w", dgst, err)
	}
	return Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}, nil
}

// ReaderAt is an open committed blob.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (r *fileReaderAt) Size() int64 { return r.size }

// ReaderAt opens a committed blob for reading.
func (s *Store) ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Sprintf("content %s: not found", dgst))
		}
		return nil, fmt.Errorf("content %s: %w", dgst, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("content %s: %w", dgst, err)
	}
	return &fileReaderAt{File: f, size: fi.Size()}, nil
}

// ReadAll returns a whole blob, refusing one larger than limit bytes (for
// manifests and configs, which are small and come from strangers).
func (s *Store) ReadAll(ctx context.Context, dgst digest.Digest, limit int64) ([]byte, error) {
	ra, err := s.ReaderAt(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer ra.Close()
	if ra.Size() > limit {
		return nil, errdefs.Invalid(fmt.Sprintf("content %s: %d bytes, more than the limit of %d", dgst, ra.Size(), limit))
	}
	b := make([]byte, ra.Size())
	if _, err := ra.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read content %s: %w", dgst, err)
	}
	return b, nil
}

// Delete removes a committed blob. Readers that have it open keep reading it.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errdefs.NotFound(fmt.Sprintf("content %s: not found", dgst))
		}
		return fmt.Errorf("delete content %s: %w", dgst, err)
	}
	return syncDir(filepath.Dir(p))
}

// Walk calls fn for each committed blob, in digest order. An error from fn
// stops the walk and is returned.
func (s *Store) Walk(ctx context.Context, fn func(Info) error) error {
	dir := filepath.Join(s.root, "blobs", string(digest.SHA256))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("walk content: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		dgst := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if dgst.Validate() != nil || !e.Type().IsRegular() {
			continue // not a blob (a stray file); GC's business, not Walk's
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted during the walk
			}
			return fmt.Errorf("walk content: %w", err)
		}
		if err := fn(Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ingestMeta is the meta file of an ingest: what the writer expects.
type ingestMeta struct {
	Ref      string        `json:"ref"`
	Expected digest.Digest `json:"expected,omitempty"`
	Size     int64         `json:"size,omitempty"`
}

// readMeta reads an ingest's meta file; a missing or torn one (a crash while
// it was written) reads as the zero value.
func readMeta(dir string) ingestMeta {
	var m ingestMeta
	b, err := os.ReadFile(filepath.Join(dir, "meta"))
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}
