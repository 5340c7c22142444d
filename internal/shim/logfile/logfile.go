// Package logfile writes and reads container output in Docker's json-file
// log format, so that `docker logs` semantics (and tools that parse Docker's
// files) carry over unchanged.
//
// Each line of output is one JSON object on its own line:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-25T01:02:03.123456789Z"}
//
// "log" holds the line including its newline. Like Docker's log copier, a
// line longer than 16 KiB is cut into 16 KiB fragments that carry no
// newline; the last fragment carries it. Output left without a newline when
// the stream ends is written as a last entry without one.
//
// Rotation follows Docker's json-file driver: with a max size, the file is
// rotated before a write once it holds max size bytes or more (so a file
// can exceed it by one entry); with max files N the live file is name and
// the older ones name.1 (the most recent) to name.N-1; with N = 1 the live
// file is truncated in place.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/capsa-dev/capsa/internal/shim/jsonwire"
)

// MaxLine is the longest piece of a line written as one entry; longer lines
// are split (Docker's copier buffer size).
const MaxLine = 16 * 1024

// Config says where the log goes and how it rotates.
type Config struct {
	// Path of the live log file.
	Path string
	// MaxSize in bytes at which the file is rotated; 0 or less: never.
	MaxSize int64
	// MaxFiles is how many files are kept, the live one included; less
	// than 1 counts as 1.
	MaxFiles int
}

// Entry is one record of the log.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer appends entries to a json-file log and rotates it. It is safe for
// concurrent use by the streams of one container.
type Writer struct {
	cfg Config
	now func() time.Time

	// mu guards the fields below.
	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// Open opens (or creates) the live log file for appending.
func Open(cfg Config) (*Writer, error) {
	if cfg.MaxFiles < 1 {
		cfg.MaxFiles = 1
	}
	w := &Writer{cfg: cfg, now: time.Now}
	if err := w.open(0); err != nil {
		return nil, err
	}
	return w, nil
}

// Preconditions: w.mu held or w not yet shared.
func (w *Writer) open(trunc int) error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|trunc, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", w.cfg.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log %s: %w", w.cfg.Path, err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// WriteEntry writes one entry: log is written as given (the caller splits
// lines), stamped with t.
func (w *Writer) WriteEntry(stream string, log []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write log %s: closed", w.cfg.Path)
	}
	w.buf = appendEntry(w.buf[:0], stream, log, t)
	if w.cfg.MaxSize > 0 && w.size >= w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log %s: %w", w.cfg.Path, err)
	}
	return nil
}

// appendEntry appends the JSON line of one entry to b.
func appendEntry(b []byte, stream string, log []byte, t time.Time) []byte {
	b = append(b, `{"log":`...)
	b = jsonwire.AppendString(b, log)
	b = append(b, `,"stream":`...)
	b = jsonwire.AppendString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// rotate shifts name.i to name.i+1, name to name.1, and opens a new name.
// Preconditions: w.mu held.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", w.cfg.Path, err)
	}
	w.f = nil
	if w.cfg.MaxFiles <= 1 {
		return w.open(os.O_TRUNC)
	}
	p := w.cfg.Path
	last := p + "." + strconv.Itoa(w.cfg.MaxFiles-1)
	if err := os.Remove(last); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate log: %w", err)
	}
	for i := w.cfg.MaxFiles - 2; i >= 1; i-- {
		from, to := p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate log: %w", err)
	}
	return w.open(0)
}

// Close closes the live file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Stream returns a writer that cuts what it is given into lines and writes
// each as an entry of the named stream ("stdout", "stderr"). It is not safe
// for concurrent use; each stream has its own.
func (w *Writer) Stream(name string) *StreamWriter {
	return &StreamWriter{w: w, name: name}
}

// StreamWriter is one stream of a container's output; see Writer.Stream.
type StreamWriter struct {
	w    *Writer
	name string
	buf  []byte
}

// Write buffers p and writes every complete line, and every 16 KiB of a
// longer one, as an entry. It reports len(p) unless the log fails.
func (s *StreamWriter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		var n int
		switch {
		case i >= 0 && i < MaxLine:
			n = i + 1
		case len(s.buf) >= MaxLine:
			n = MaxLine
		default:
			return len(p), nil
		}
		err := s.w.WriteEntry(s.name, s.buf[:n], s.w.now())
		s.buf = s.buf[:copy(s.buf, s.buf[n:])]
		if err != nil {
			return len(p), err
		}
	}
}

// Flush writes what is left of an unfinished line, without a newline, as
// Docker does when a stream ends.
func (s *StreamWriter) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.w.WriteEntry(s.name, s.buf, s.w.now())
	s.buf = s.buf[:0]
	return err
}
