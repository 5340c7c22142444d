package docker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/shim"
)

func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(r.URL.Query().Get("detachKeys"))
	if err != nil {
		return err
	}
	q := streams{stdin: boolValue(r, "stdin"), stdout: boolValue(r, "stdout"), stderr: boolValue(r, "stderr"), tty: in.Tty}
	logs, stream := boolValue(r, "logs"), boolValue(r, "stream")
	// The attach is registered with the container before the client hears
	// it is there (the 101): the start it sends next must find it, or the
	// first output is lost.
	var pending *engine.PendingAttach
	if stream {
		if pending, err = s.e.PrepareAttach(id, q.stdin); err != nil {
			return err
		}
	}
	conn, br, err := hijack(w, r, !in.Tty)
	if err != nil {
		if pending != nil {
			pending.Cancel()
		}
		return err
	}
	defer conn.Close()
	var mu sync.Mutex
	out, errw := q.writers(conn, &mu)
	if logs {
		_ = s.replayLogs(r.Context(), id, out, errw)
	}
	if !stream {
		return nil
	}
	// Not r.Context(): the hijacked request's context is done already.
	// Nor can a client's end be told from the end of its stdin (docker's
	// CLI half-closes at once when it sends none): an attach waits for
	// the start, or for the container's removal.
	sc, err := pending.Connect(context.Background())
	if err != nil {
		s.log.Debug("attach", "container", id, "err", err)
		return nil
	}
	defer sc.Close()
	pump(conn, br, sc, q, keys, out, errw)
	return nil
}

// streams are the parts of a container's stdio a client attached to.
type streams struct {
	stdin, stdout, stderr, tty bool
}

// writers are the stdout and stderr writers on a hijacked connection: raw
// for a terminal, framed otherwise; io.Discard for what was not asked.
func (q streams) writers(conn io.Writer, mu *sync.Mutex) (io.Writer, io.Writer) {
	var out, errw io.Writer = io.Discard, io.Discard
	if q.stdout {
		out = &frameWriter{mu: mu, w: conn, id: streamStdout, raw: q.tty}
	}
	if q.stderr {
		errw = &frameWriter{mu: mu, w: conn, id: streamStderr, raw: q.tty}
	}
	return out, errw
}

// pump runs a stream between a client and the shim: the shim's frames go
// to the client, the client's bytes (minus the detach keys) to the
// shim's stdin, until the output ends or the client detaches.
func pump(conn net.Conn, br *bufio.Reader, sc *net.UnixConn, q streams, keys []byte, out, errw io.Writer) {
	if q.stdin {
		go func() {
			_, err := io.Copy(sc, &detachReader{r: br, keys: keys})
			if errors.Is(err, errDetached) {
				sc.Close()
				conn.Close()
				return
			}
			_ = sc.CloseWrite()
		}()
	}
	_ = shim.Demux(sc, out, errw)
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
