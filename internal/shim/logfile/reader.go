package logfile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"
)

// PollInterval is how often a following reader looks for new output and
// for a rotation. Polling, not inotify: it works on every filesystem and
// costs nothing while nobody follows.
var PollInterval = 100 * time.Millisecond

// Read calls fn with every entry of the log at cfg.Path, oldest first: the
// rotated files (name.N-1 ... name.1), then the live one. With follow it
// then waits for more, like tail -F: across rotations (it finishes the
// rotated file, then opens the new one) and truncation, until ctx ends or
// fn returns an error. A rotation that happens twice within one poll
// interval skips the file in between. Read returns fn's error, ctx's error
// when following, or nil at the end of the log.
func Read(ctx context.Context, cfg Config, follow bool, fn func(Entry) error) error {
	for i := cfg.MaxFiles - 1; i >= 1; i-- {
		p := cfg.Path + "." + strconv.Itoa(i)
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read log %s: %w", p, err)
		}
		_, err = readEntries(bufio.NewReader(f), nil, fn)
		f.Close()
		if !errors.Is(err, io.EOF) {
			return err
		}
	}
	f, err := os.Open(cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !follow {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read log %s: %w", cfg.Path, err)
		}
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var partial []byte
	var r *bufio.Reader
	if f != nil {
		r = bufio.NewReader(f)
	}
	for {
		if f != nil {
			partial, err = readEntries(r, partial, fn)
			if !errors.Is(err, io.EOF) {
				return err
			}
		}
		if !follow {
			return nil
		}
		// At the end of what is there: has the file been replaced or cut?
		cur, statErr := os.Stat(cfg.Path)
		switch {
		case statErr != nil && !errors.Is(statErr, fs.ErrNotExist):
			return fmt.Errorf("read log %s: %w", cfg.Path, statErr)
		case statErr == nil && (f == nil || !sameFile(f, cur)):
			if f != nil {
				// Finish the old file: the writer may have added to it
				// between our EOF and the rotation.
				partial, err = readEntries(r, partial, fn)
				if !errors.Is(err, io.EOF) {
					return err
				}
				f.Close()
				f = nil
			}
			nf, err := os.Open(cfg.Path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read log %s: %w", cfg.Path, err)
			}
			if err == nil {
				f, r, partial = nf, bufio.NewReader(nf), nil
				continue
			}
		case statErr == nil && f != nil:
			// Truncated in place (max files 1): start over.
			if off, err := f.Seek(0, io.SeekCurrent); err == nil && cur.Size() < off-int64(r.Buffered()) {
				if _, err := f.Seek(0, io.SeekStart); err == nil {
					r.Reset(f)
					partial = nil
					continue
				}
			}
		}
		t := time.NewTimer(PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func sameFile(f *os.File, fi fs.FileInfo) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	a, ok1 := st.Sys().(*syscall.Stat_t)
	b, ok2 := fi.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && a.Dev == b.Dev && a.Ino == b.Ino
}

// readEntries decodes lines until EOF; an unfinished last line is returned
// to be completed by the next call. It returns io.EOF at the end, or fn's
// error, never nil.
func readEntries(r *bufio.Reader, partial []byte, fn func(Entry) error) ([]byte, error) {
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			partial = append(partial, line...)
			continue
		}
		if err != nil {
			return append(partial, line...), err
		}
		if len(partial) > 0 {
			line = append(partial, line...)
			partial = partial[:0]
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			// A torn or foreign line: skip it, as docker does not stop
			// a follow for one bad record.
			continue
		}
		if err := fn(e); err != nil {
			return partial, err
		}
	}
}
