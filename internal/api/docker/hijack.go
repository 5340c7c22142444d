package docker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// hijack takes over the connection of an attach or exec start and writes
// the response head: 101 UPGRADED when the client asked for an upgrade
// (docker's clients do), else 200. The stream follows on the returned
// connection; what the client sent after its request is in the reader.
func hijack(w http.ResponseWriter, r *http.Request, multiplexed bool) (net.Conn, *bufio.Reader, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errdefs.Invalid("this connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	ctype := "application/vnd.docker.raw-stream"
	if multiplexed && !versionLess(apiVersion(r), "1.42") {
		ctype = "application/vnd.docker.multiplexed-stream"
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + ctype + "\r\n\r\n"
	if r.Header.Get("Upgrade") != "" {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ctype + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	if _, err := conn.Write([]byte(head)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, brw.Reader, nil
}

// Stream ids of Docker's multiplexed (stdcopy) format.
const (
	streamStdout = 1
	streamStderr = 2
)

// frameWriter writes each Write as one stdcopy frame of stream id to w;
// with raw it writes the bytes as they are (a terminal's stream). The
// writers of one connection share mu.
type frameWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	id  byte
	raw bool
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.raw {
		return f.w.Write(p)
	}
	var hdr [8]byte
	hdr[0] = f.id
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	return f.w.Write(p)
}

// detachReader passes stdin through until it sees the detach key sequence,
// then reports errDetached.
type detachReader struct {
	r    io.Reader
	keys []byte
	// matched is how much of keys the last bytes matched; held back.
	matched int
}

var errDetached = fmt.Errorf("detached")

func (d *detachReader) Read(p []byte) (int, error) {
	if len(d.keys) == 0 {
		return d.r.Read(p)
	}
	buf := make([]byte, len(p))
	n, err := d.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				return len(out), errDetached
			}
			continue
		}
		// Not the sequence after all: release what was held back.
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			continue
		}
		out = append(out, b)
	}
	return len(out), err
}

// parseDetachKeys reads Docker's detach key spec ("ctrl-p,ctrl-q", "a,b").
func parseDetachKeys(spec string) ([]byte, error) {
	if spec == "" {
		spec = "ctrl-p,ctrl-q"
	}
	var keys []byte
	for _, k := range strings.Split(spec, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && k[:5] == "ctrl-":
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c == '@':
				keys = append(keys, 0)
			case c >= '[' && c <= '_':
				keys = append(keys, c-'['+27)
			default:
				return nil, errdefs.Invalid(fmt.Sprintf("invalid detach keys %q: unknown character %q", spec, k))
			}
		default:
			return nil, errdefs.Invalid(fmt.Sprintf("invalid detach keys %q: unknown key %q", spec, k))
		}
	}
	return keys, nil
}
