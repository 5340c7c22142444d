package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Writer is an in-progress write of one blob. Write appends; Offset says how
// many bytes the ingest holds (more than zero when an interrupted write was
// resumed: the caller skips that many bytes of its source); Commit verifies
// and lands the blob; Close without Commit keeps the ingest for a later
// Writer with the same ref.
type Writer interface {
	io.Writer
	Offset() int64
	// Digest is the digest of the bytes written so far.
	Digest() digest.Digest
	Commit(ctx context.Context) error
	Close() error
}

// ingestDir returns the ingest directory of ref.
func (s *Store) ingestDir(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return filepath.Join(s.root, "ingest", hex.EncodeToString(sum[:]))
}

// Writer starts or resumes the write of a blob under ref, a name the caller
// chooses for this write (the same ref resumes it after a crash). expected
// and size, when not empty and not zero, are checked at Commit; size also
// bounds Write. A blob already present as expected gives ErrAlreadyExists,
// and a ref that another live writer holds gives ErrUnavailable.
func (s *Store) Writer(ctx context.Context, ref string, expected digest.Digest, size int64) (_ Writer, retErr error) {
	if ref == "" {
		return nil, errdefs.Invalid("content writer: empty ref")
	}
	if size < 0 {
		return nil, errdefs.Invalid(fmt.Sprintf("content writer %q: negative size %d", ref, size))
	}
	if expected != "" {
		if _, err := s.Info(ctx, expected); err == nil {
			return nil, errdefs.AlreadyExists(fmt.Sprintf("content %s: already exists", expected))
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	dir := s.ingestDir(ref)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content writer %q: %w", ref, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("content writer %q: %w", ref, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
		}
	}()
	// The flock says "a live writer owns this ingest"; the kernel drops it
	// when the owner dies, so a crashed write is resumable at once.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("content writer %q: ref is being written: %w", ref, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("content writer %q: lock: %w", ref, err)
	}
	w := &writer{s: s, ref: ref, dir: dir, f: f, expected: expected, size: size, digester: digest.SHA256.Digester()}
	want := ingestMeta{Ref: ref, Expected: expected, Size: size}
	if readMeta(dir) != want {
		// A new write, or the ref reused for other content: start over.
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("content writer %q: %w", ref, err)
		}
		b, _ := json.Marshal(want)
		if err := atomicfile.Write(filepath.Join(dir, "meta"), b, 0o600); err != nil {
			return nil, fmt.Errorf("content writer %q: %w", ref, err)
		}
	}
	// Resume: rehash what the ingest holds, then append after it.
	n, err := io.Copy(w.digester.Hash(), io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("content writer %q: resume: %w", ref, err)
	}
	if size > 0 && n > size {
		// More bytes than announced: not resumable, start over.
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("content writer %q: %w", ref, err)
		}
		n = 0
		w.digester = digest.SHA256.Digester()
	}
	if _, err := f.Seek(n, io.SeekStart); err != nil {
		return nil, fmt.Errorf("content writer %q: %w", ref, err)
	}
	w.offset = n
	return w, nil
}

type writer struct {
	s        *Store
	ref      string
	dir      string
	f        *os.File // nil once committed or closed
	expected digest.Digest
	size     int64
	offset   int64
	digester digest.Digester
}

func (w *writer) Offset() int64         { return w.offset }
func (w *writer) Digest() digest.Digest { return w.digester.Digest() }

func (w *writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("content writer %q: closed", w.ref)
	}
	if w.size > 0 && w.offset+int64(len(p)) > w.size {
		return 0, errdefs.Invalid(fmt.Sprintf("content writer %q: more than the expected %d bytes", w.ref, w.size))
	}
	n, err := w.f.Write(p)
	w.digester.Hash().Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("content writer %q: %w", w.ref, err)
	}
	return n, nil
}

// Commit checks the size and digest, then lands the blob. A short write
// keeps the ingest (resumable); a digest mismatch removes it, and in both
// cases nothing lands under blobs/. If another writer landed the same blob
// first, Commit returns ErrAlreadyExists (the blob is there, whole).
func (w *writer) Commit(ctx context.Context) error {
	if w.f == nil {
		return fmt.Errorf("content writer %q: closed", w.ref)
	}
	if w.size > 0 && w.offset != w.size {
		return errdefs.Invalid(fmt.Sprintf("commit %q: size mismatch: expected %d bytes, got %d", w.ref, w.size, w.offset))
	}
	got := w.digester.Digest()
	if w.expected != "" && got != w.expected {
		w.discard()
		return errdefs.Invalid(fmt.Sprintf("commit %q: digest mismatch: expected %s, got %s", w.ref, w.expected, got))
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit %q: %w", w.ref, err)
	}
	if err := w.f.Chmod(0o444); err != nil {
		return fmt.Errorf("commit %q: %w", w.ref, err)
	}
	target, _ := w.s.BlobPath(got)
	// link(2), unlike rename(2), fails on an existing target: exactly one
	// of two concurrent writers of a digest lands it.
	if err := os.Link(filepath.Join(w.dir, "data"), target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			w.discard()
			return errdefs.AlreadyExists(fmt.Sprintf("content %s: already exists", got))
		}
		w.f.Chmod(0o600) // still an ingest: keep it writable for a resume
		return fmt.Errorf("commit %q: %w", w.ref, err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("commit %q: %w", w.ref, err)
	}
	w.discard()
	return nil
}

// discard removes the ingest and closes the writer.
func (w *writer) discard() {
	os.RemoveAll(w.dir)
	w.f.Close()
	w.f = nil
}

func (w *writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Status is an in-progress write.
type Status struct {
	Ref       string
	Offset    int64
	Expected  digest.Digest
	Size      int64
	UpdatedAt time.Time
	// Active is true while a live writer holds the ref.
	Active bool
}

// Ingests lists the in-progress writes.
func (s *Store) Ingests(ctx context.Context) ([]Status, error) {
	var out []Status
	err := s.eachIngest(func(dir string, locked bool, fi fs.FileInfo) error {
		m := readMeta(dir)
		out = append(out, Status{Ref: m.Ref, Offset: fi.Size(), Expected: m.Expected, Size: m.Size, UpdatedAt: fi.ModTime(), Active: locked})
		return nil
	})
	return out, err
}

// Abort removes the ingest of ref, unless a live writer holds it.
func (s *Store) Abort(ctx context.Context, ref string) error {
	dir := s.ingestDir(ref)
	f, err := os.Open(filepath.Join(dir, "data"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errdefs.NotFound(fmt.Sprintf("ingest %q: not found", ref))
		}
		return fmt.Errorf("abort ingest %q: %w", ref, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("abort ingest %q: ref is being written: %w", ref, errdefs.ErrUnavailable)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("abort ingest %q: %w", ref, err)
	}
	return nil
}

// CleanIngests removes the ingests that no live writer holds and that were
// last written more than olderThan ago (0: all of them), returning their
// refs. It is the garbage collection of writes abandoned by a crash.
func (s *Store) CleanIngests(ctx context.Context, olderThan time.Duration) ([]string, error) {
	var removed []string
	cutoff := time.Now().Add(-olderThan)
	err := s.eachIngest(func(dir string, locked bool, fi fs.FileInfo) error {
		if locked || (olderThan > 0 && fi.ModTime().After(cutoff)) {
			return nil
		}
		ref := readMeta(dir).Ref
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clean ingest %q: %w", ref, err)
		}
		removed = append(removed, ref)
		return nil
	})
	return removed, err
}

// eachIngest calls fn for each ingest directory with whether a live writer
// holds it and its data file's stat. fn runs while the flock is tried and,
// if it was free, held, so fn may remove the directory safely. An ingest
// without a data file (a crash right after mkdir) reads as an empty one.
func (s *Store) eachIngest(fn func(dir string, locked bool, fi fs.FileInfo) error) error {
	root := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list ingests: %w", err)
	}
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() {
			os.Remove(dir) // stray file, not an ingest
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			return fmt.Errorf("list ingests: %w", err)
		}
		locked := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
		// While fn runs, the lock is ours: a Writer of this ref that starts
		// now gets ErrUnavailable, which is what a caller racing a cleanup
		// should see.
		fi, err := f.Stat()
		if err == nil {
			err = fn(dir, locked, fi)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
