package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// WriteBlob writes the blob that r yields into the store under ref,
// resuming an interrupted write of the same ref (r is sought past what the
// ingest holds, or that many bytes are read and dropped). A blob already
// present is success.
func WriteBlob(ctx context.Context, s *Store, ref string, r io.Reader, expected digest.Digest, size int64) error {
	w, err := s.Writer(ctx, ref, expected, size)
	if err != nil {
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		return err
	}
	defer w.Close()
	if off := w.Offset(); off > 0 {
		if sk, ok := r.(io.Seeker); ok {
			_, err = sk.Seek(off, io.SeekCurrent)
		} else {
			_, err = io.CopyN(io.Discard, r, off)
		}
		if err != nil {
			return fmt.Errorf("resume %q at %d: %w", ref, off, err)
		}
	}
	if _, err := io.Copy(w, ctxReader{ctx, r}); err != nil {
		return err
	}
	if err := w.Commit(ctx); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return err
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
