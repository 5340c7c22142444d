package shim

import (
	"encoding/binary"
	"sync"
)

// subscriberBuffer is how many frames an attached client may lag behind
// before it is dropped: output never waits for a slow client.
const subscriberBuffer = 1024

// broadcaster hands the container's output, as attach frames, to every
// attached client.
type broadcaster struct {
	// mu guards the fields below.
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: make(map[chan []byte]struct{})}
}

// frame encodes p as a Docker attach frame.
func frame(stream byte, p []byte) []byte {
	f := make([]byte, 8+len(p))
	hdr := frameHeader(stream, len(p))
	copy(f, hdr[:])
	copy(f[8:], p)
	return f
}

// frameHeader is the header of a frame of n bytes: the stream, three zero
// bytes, the big-endian length.
func frameHeader(stream byte, n int) [8]byte {
	var h [8]byte
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:8], uint32(n))
	return h
}

func (b *broadcaster) send(stream byte, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) == 0 {
		return
	}
	f := frame(stream, p)
	for ch := range b.subs {
		select {
		case ch <- f:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns a channel of frames that closes when the output ends
// (or the client lags); ok is false if it has ended already.
func (b *broadcaster) subscribe() (ch chan []byte, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	ch = make(chan []byte, subscriberBuffer)
	b.subs[ch] = struct{}{}
	return ch, true
}

func (b *broadcaster) unsubscribe(ch chan []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
