package docker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/shim/logfile"
)

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	stdout, stderr := boolValue(r, "stdout"), boolValue(r, "stderr")
	if !stdout && !stderr {
		return errdefs.Invalid("you must choose at least one stream")
	}
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	now := time.Now()
	opts := engine.LogsOptions{Follow: boolValue(r, "follow"), Tail: -1}
	if opts.Since, err = parseTimestamp(q.Get("since"), now); err != nil {
		return errdefs.Invalid(fmt.Sprintf("invalid value for since: %q", q.Get("since")))
	}
	if v := q.Get("until"); v != "" && v != "0" {
		if opts.Until, err = parseTimestamp(v, now); err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid value for until: %q", v))
		}
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid value for tail: %q", t))
		}
		opts.Tail = max(n, 0)
	}
	timestamps, details := boolValue(r, "timestamps"), boolValue(r, "details")
	ctype := "application/vnd.docker.raw-stream"
	if !in.Tty && !versionLess(apiVersion(r), "1.42") {
		ctype = "application/vnd.docker.multiplexed-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	var mu sync.Mutex
	q2 := streams{stdout: stdout, stderr: stderr, tty: in.Tty}
	out, errw := q2.writers(flushWriter{w, flusher}, &mu)
	err = s.e.Logs(r.Context(), id, opts, func(en logfile.Entry) error {
		dst := out
		if en.Stream == "stderr" {
			dst = errw
		}
		// As dockerd: details put the line's attributes (capsa's log has
		// none) and a space first; timestamps have all nine digits.
		line := en.Log
		if details {
			line = " " + line
		}
		if timestamps {
			line = en.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " " + line
		}
		_, err := io.WriteString(dst, line)
		return err
	})
	if err != nil && r.Context().Err() == nil && err != context.Canceled {
		s.log.Debug("logs", "container", id, "err", err)
	}
	return nil
}

// replayLogs writes the container's logged output (attach ?logs=1).
func (s *Server) replayLogs(ctx context.Context, id string, out, errw io.Writer) error {
	return s.e.Logs(ctx, id, engine.LogsOptions{Tail: -1}, func(en logfile.Entry) error {
		dst := out
		if en.Stream == "stderr" {
			dst = errw
		}
		_, err := io.WriteString(dst, en.Log)
		return err
	})
}

// flushWriter flushes after every write, for streams.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if f.f != nil {
		f.f.Flush()
	}
	return n, err
}
