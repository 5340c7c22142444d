// Package dns is the DNS responder that capsad runs for each user-defined
// container network, like docker's embedded DNS server. It listens on one
// address (the network's gateway, UDP and TCP), answers A, AAAA, ANY and PTR
// questions about the network's containers from a Resolver, and forwards
// every other question, unchanged and uncached, to the host's resolvers.
//
// Everything it reads comes from strangers: malformed packets are dropped
// without a reply (a reply could be used to amplify), queries with other
// than one question get FORMERR, and forwards are bounded (maxForwards in
// flight, a timeout per upstream) so that a flood cannot pile up work.
//
// With no upstream, or when no upstream answers, a foreign question gets
// SERVFAIL: it says "cannot answer now" and makes a stub resolver try its
// next nameserver, where REFUSED would read as a policy decision.
package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Resolver answers for the containers of one network. It is called from
// many goroutines at once.
type Resolver interface {
	// Lookup answers a name (lowercase, no trailing dot, e.g. "web" or
	// "web.mynet") with the IPv4 addresses of the containers that have it;
	// nil: not a container's name.
	Lookup(client netip.Addr, name string) []netip.Addr
	// ReverseLookup answers an address with the names that have it, the
	// canonical one first; nil: unknown.
	ReverseLookup(client netip.Addr, ip netip.Addr) []string
}

// Config is what Start needs.
type Config struct {
	// Addr is where to listen, UDP and TCP (e.g. the bridge gateway
	// 10.77.0.1:53). Port 0 picks a free port, the same for both.
	Addr netip.AddrPort
	// Resolver answers for the network's containers.
	Resolver Resolver
	// Upstream are the host's resolvers, tried in order (see Upstreams).
	// Empty: foreign questions get SERVFAIL.
	Upstream []netip.AddrPort
	// Timeout bounds one exchange with one upstream; 0 means 2 s.
	Timeout time.Duration
	// Log may be nil.
	Log *slog.Logger
}

const (
	// ttl of the records about containers, as docker's embedded DNS.
	ttl = 600
	// defaultTimeout bounds one exchange with one upstream.
	defaultTimeout = 2 * time.Second
	// maxForwards bounds the forwards in flight; past it, SERVFAIL.
	maxForwards = 100
	// maxTCPConns bounds the TCP connections served at once; past it,
	// new connections wait in the kernel's backlog.
	maxTCPConns = 256
	// udpBufSize is the largest query read over UDP.
	udpBufSize = dns.DefaultMsgSize
)

// Server is a running responder. Close stops it.
type Server struct {
	addr     netip.AddrPort
	resolver Resolver
	upstream []netip.AddrPort
	timeout  time.Duration
	log      *slog.Logger

	// forwards is a semaphore of the forwards in flight.
	forwards chan struct{}

	udp, tcp *dns.Server
	// cancel ends the context that the handlers' forwards run under.
	cancel context.CancelFunc
	// served is done when both serving goroutines have returned.
	served sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start binds cfg.Addr over UDP and TCP and serves both in goroutines
// until Close. ctx bounds the start only; the values it carries are kept
// for the handlers.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if !cfg.Addr.IsValid() {
		return nil, fmt.Errorf("dns: address: %w", errdefs.Invalid("not set"))
	}
	if cfg.Resolver == nil {
		return nil, fmt.Errorf("dns: resolver: %w", errdefs.Invalid("not set"))
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}

	pc, ln, err := listen(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	addr := netip.AddrPortFrom(cfg.Addr.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))

	s := &Server{
		addr:     addr,
		resolver: cfg.Resolver,
		timeout:  timeout,
		log:      log.With("addr", addr.String()),
		forwards: make(chan struct{}, maxForwards),
	}
	for _, up := range cfg.Upstream {
		// Forwarding to ourselves would loop each question until the
		// timeout.
		if up.IsValid() && up != addr {
			s.upstream = append(s.upstream, up)
		}
	}

	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.serve(hctx, w, req)
	})
	s.udp = &dns.Server{
		PacketConn:     pc,
		Handler:        handler,
		UDPSize:        udpBufSize,
		MsgAcceptFunc:  accept,
		DecorateReader: dropMalformed,
	}
	s.tcp = &dns.Server{
		Listener:       newLimitListener(ln, maxTCPConns),
		Handler:        handler,
		MsgAcceptFunc:  accept,
		DecorateReader: dropMalformed,
	}

	// Serve both, and wait until both have started: Shutdown fails on a
	// server that has not started yet. ready gets nil once a server has
	// started, or the error that stopped it before.
	var failed error
	ready := make([]chan error, 2)
	for i, srv := range []*dns.Server{s.udp, s.tcp} {
		ready[i] = make(chan error, 1)
		var once sync.Once
		report := func(err error) { once.Do(func() { ready[i] <- err }) }
		srv.NotifyStartedFunc = func() { report(nil) }
		s.served.Add(1)
		go func() {
			defer s.served.Done()
			err := srv.ActivateAndServe()
			if err != nil {
				err = fmt.Errorf("dns: serve %s %s: %w", netName(srv), addr, err)
				s.log.Error("dns server stopped", "error", err)
			}
			report(err)
		}()
	}
	for _, c := range ready {
		if err := <-c; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		// The one that did not start has not closed its socket.
		_ = s.Close()
		pc.Close()
		ln.Close()
		return nil, failed
	}
	return s, nil
}

// Addr is where s listens, UDP and TCP.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops serving, closes both sockets and waits for the goroutines,
// forwards in flight included.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		var errs []error
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if err := srv.Shutdown(); err != nil && !notStarted(err) {
				errs = append(errs, fmt.Errorf("dns: stop %s %s: %w", netName(srv), s.addr, err))
			}
		}
		s.served.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// notStarted tells the error of Shutdown on a server that never started
// (Start failing half way).
func notStarted(err error) bool {
	return err.Error() == "dns: server not started"
}

func netName(srv *dns.Server) string {
	if srv.PacketConn != nil {
		return "udp"
	}
	return "tcp"
}

// listen binds addr over UDP, then the same port over TCP. With port 0 the
// kernel picks the UDP port, which may be taken over TCP; then it tries
// again with another.
func listen(ctx context.Context, addr netip.AddrPort) (*net.UDPConn, net.Listener, error) {
	var lc net.ListenConfig
	for try := 0; ; try++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr.String())
		if err != nil {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(addr.Addr(), uint16(port)).String())
		if err == nil {
			return pc.(*net.UDPConn), ln, nil
		}
		pc.Close()
		if addr.Port() != 0 || try >= 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
	}
}

// accept screens a query by its header: responses are dropped (replying
// to them could loop between two servers), opcodes other than QUERY get
// NOTIMP, and anything but one question and no answer or authority
// records gets FORMERR.
func accept(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// dropMalformed makes the servers drop packets that do not parse: left to
// itself, dns.Server answers them FORMERR, and a reply to garbage helps
// only whoever spoofs its source. Over TCP the connection is dropped.
func dropMalformed(r dns.Reader) dns.Reader { return strictReader{r} }

type strictReader struct{ dns.Reader }

var errMalformed = errors.New("malformed message")

func (r strictReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	m, err := r.Reader.ReadTCP(conn, timeout)
	if err != nil {
		return nil, err
	}
	if !wellFormed(m) {
		return nil, errMalformed
	}
	return m, nil
}

func (r strictReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		m, sess, err := r.Reader.ReadUDP(conn, timeout)
		if err != nil || wellFormed(m) {
			return m, sess, err
		}
	}
}

// wellFormed tells whether m parses as a DNS message with as many records
// as its header says: dns.Msg.Unpack takes a message cut short for a
// shorter one.
func wellFormed(m []byte) bool {
	var msg dns.Msg
	if len(m) < 12 || msg.Unpack(m) != nil {
		return false
	}
	count := func(i int) int { return int(binary.BigEndian.Uint16(m[i:])) }
	return len(msg.Question) == count(4) && len(msg.Answer) == count(6) &&
		len(msg.Ns) == count(8) && len(msg.Extra) == count(10)
}
