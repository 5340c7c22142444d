package dns

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// names is a Resolver from a table.
type names map[string][]netip.Addr

func (n names) Lookup(_ netip.Addr, name string) []netip.Addr { return n[name] }

func (n names) ReverseLookup(_, ip netip.Addr) []string {
	var out []string
	for name, addrs := range n {
		if slices.Contains(addrs, ip) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

var testNames = names{
	"web":       {netip.MustParseAddr("10.77.0.2")},
	"web.mynet": {netip.MustParseAddr("10.77.0.2")},
	"db":        {netip.MustParseAddr("10.77.0.3"), netip.MustParseAddr("10.77.0.4")},
	"v6only":    {netip.MustParseAddr("fd00::1")},
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if !cfg.Addr.IsValid() {
		cfg.Addr = loopback
	}
	if cfg.Resolver == nil {
		cfg.Resolver = testNames
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func ask(t *testing.T, network string, addr netip.AddrPort, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("ask %s %s %s: %v", network, addr, m.Question[0].Name, err)
	}
	return resp
}

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// answers renders resp's answer section without the TTLs.
func answers(resp *dns.Msg) []string {
	var out []string
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, "A "+rr.A.String())
		case *dns.PTR:
			out = append(out, "PTR "+rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func TestLocal(t *testing.T) {
	s := start(t, Config{})
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  []string
	}{
		{"A", "web.", dns.TypeA, []string{"A 10.77.0.2"}},
		{"A mixed case", "WeB.", dns.TypeA, []string{"A 10.77.0.2"}},
		{"A with network", "web.mynet.", dns.TypeA, []string{"A 10.77.0.2"}},
		{"A two addresses", "db.", dns.TypeA, []string{"A 10.77.0.3", "A 10.77.0.4"}},
		{"A of IPv6 only", "v6only.", dns.TypeA, nil},
		{"ANY", "db.", dns.TypeANY, []string{"A 10.77.0.3", "A 10.77.0.4"}},
		{"AAAA is empty", "web.", dns.TypeAAAA, nil},
		{"PTR", "2.0.77.10.in-addr.arpa.", dns.TypePTR, []string{"PTR web.", "PTR web.mynet."}},
		{"PTR upper case", "3.0.77.10.IN-ADDR.ARPA.", dns.TypePTR, []string{"PTR db."}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+" "+network, func(t *testing.T) {
				q := question(tt.qname, tt.qtype)
				resp := ask(t, network, s.Addr(), q)
				if resp.Rcode != dns.RcodeSuccess {
					t.Fatalf("rcode: got %s, want NOERROR", dns.RcodeToString[resp.Rcode])
				}
				if got := answers(resp); !slices.Equal(got, tt.want) {
					t.Errorf("answers: got %q, want %q", got, tt.want)
				}
				if resp.Id != q.Id {
					t.Errorf("id: got %d, want %d", resp.Id, q.Id)
				}
				if !resp.Authoritative {
					t.Errorf("authoritative: got false, want true")
				}
				for _, rr := range resp.Answer {
					if got := rr.Header().Ttl; got != ttl {
						t.Errorf("ttl: got %d, want %d", got, ttl)
					}
				}
			})
		}
	}
}

// upstream is a fake host resolver on 127.0.0.1: it answers
// foreign.example. with 192.0.2.7, big.example. with more than fits in 512
// bytes (truncated over UDP), and NXDOMAIN for anything else.
type upstream struct {
	addr     netip.AddrPort
	udp, tcp atomic.Int32
	names    sync.Map // the names asked, with their IDs
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	pc, ln, err := listen(context.Background(), loopback)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: netip.AddrPortFrom(loopback.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		if tcp {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		q := req.Question[0]
		u.names.Store(q.Name, req.Id)
		resp := new(dns.Msg)
		resp.SetReply(req)
		hdr := dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}
		switch strings.ToLower(q.Name) {
		case "foreign.example.":
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, 7)})
		case "big.example.":
			for i := range 60 {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, byte(i))})
			}
		default:
			resp.Rcode = dns.RcodeNameError
		}
		if !tcp {
			resp.Truncate(udpSize(req))
		}
		_ = w.WriteMsg(resp)
	})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the Shutdowns, registered later
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		startedC := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(startedC) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.ActivateAndServe()
		}()
		<-startedC
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// deadAddr is a port on 127.0.0.1 where nothing listens.
func deadAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, ln, err := listen(context.Background(), loopback)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(loopback.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	pc.Close()
	ln.Close()
	return addr
}

// blackhole is a UDP port on 127.0.0.1 that reads queries and never
// answers; it counts them.
func blackhole(t *testing.T) (netip.AddrPort, *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort(), &n
}

func TestForward(t *testing.T) {
	up := startUpstream(t)
	s := start(t, Config{Upstream: []netip.AddrPort{up.addr}})
	tests := []struct {
		network    string
		qname      string
		edns       uint16
		wantRcode  int
		wantN      int  // answers
		wantTrunc  bool // answer truncated
		wantUDP    int32
		wantTCP    int32
		wantUpName bool
	}{
		{"udp", "foreign.example.", 0, dns.RcodeSuccess, 1, false, 1, 0, true},
		{"tcp", "foreign.example.", 0, dns.RcodeSuccess, 1, false, 0, 1, true},
		{"udp", "nowhere.example.", 0, dns.RcodeNameError, 0, false, 1, 0, true},
		// Truncated over UDP: the server asks again over TCP, and hands the
		// client as much as it takes.
		{"udp", "big.example.", 0, dns.RcodeSuccess, 29, true, 1, 1, true},
		{"udp", "big.example.", 4096, dns.RcodeSuccess, 60, false, 1, 0, true},
		{"tcp", "big.example.", 0, dns.RcodeSuccess, 60, false, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.qname, func(t *testing.T) {
			udp0, tcp0 := up.udp.Load(), up.tcp.Load()
			up.names.Clear()
			q := question(tt.qname, dns.TypeA)
			if tt.edns != 0 {
				q.SetEdns0(tt.edns, false)
			}
			resp := ask(t, tt.network, s.Addr(), q)
			if resp.Rcode != tt.wantRcode {
				t.Errorf("rcode: got %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if resp.Id != q.Id {
				t.Errorf("id: got %d, want the client's %d", resp.Id, q.Id)
			}
			if got := len(resp.Answer); got < tt.wantN-3 || got > tt.wantN+3 {
				// Compression makes the count that fits vary a little.
				t.Errorf("answers: got %d, want about %d", got, tt.wantN)
			}
			if resp.Truncated != tt.wantTrunc {
				t.Errorf("truncated: got %v, want %v", resp.Truncated, tt.wantTrunc)
			}
			if got := up.udp.Load() - udp0; got != tt.wantUDP {
				t.Errorf("upstream udp queries: got %d, want %d", got, tt.wantUDP)
			}
			if got := up.tcp.Load() - tcp0; got != tt.wantTCP {
				t.Errorf("upstream tcp queries: got %d, want %d", got, tt.wantTCP)
			}
			if _, ok := up.names.Load(tt.qname); !ok {
				t.Errorf("upstream was not asked %s", tt.qname)
			}
		})
	}
}

// Not cached: each question goes upstream.
func TestForwardNotCached(t *testing.T) {
	up := startUpstream(t)
	s := start(t, Config{Upstream: []netip.AddrPort{up.addr}})
	for range 3 {
		ask(t, "udp", s.Addr(), question("foreign.example.", dns.TypeA))
	}
	if got, want := up.udp.Load(), int32(3); got != want {
		t.Errorf("upstream queries: got %d, want %d", got, want)
	}
}

func TestForwardOther(t *testing.T) {
	up := startUpstream(t)
	s := start(t, Config{Upstream: []netip.AddrPort{up.addr}})
	tests := []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"unknown PTR", "9.9.9.10.in-addr.arpa.", dns.TypePTR},
		{"bad PTR", "300.9.9.10.in-addr.arpa.", dns.TypePTR},
		{"ip6.arpa", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR},
		{"MX of a container", "web.", dns.TypeMX},
		{"A of a stranger", "stranger.", dns.TypeA},
		{"root", ".", dns.TypeA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ask(t, "udp", s.Addr(), question(tt.qname, tt.qtype))
			if resp.Rcode != dns.RcodeNameError {
				t.Errorf("rcode: got %s, want the upstream's NXDOMAIN", dns.RcodeToString[resp.Rcode])
			}
			if _, ok := up.names.Load(tt.qname); !ok {
				t.Errorf("upstream was not asked %s", tt.qname)
			}
		})
	}
}

func TestForwardFailover(t *testing.T) {
	up := startUpstream(t)
	hole, _ := blackhole(t)
	tests := []struct {
		name      string
		upstream  []netip.AddrPort
		wantRcode int
	}{
		{"dead then live", []netip.AddrPort{deadAddr(t), up.addr}, dns.RcodeSuccess},
		{"silent then live", []netip.AddrPort{hole, up.addr}, dns.RcodeSuccess},
		{"all dead", []netip.AddrPort{deadAddr(t), deadAddr(t)}, dns.RcodeServerFailure},
		{"silent", []netip.AddrPort{hole}, dns.RcodeServerFailure},
		{"none", nil, dns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Config{Upstream: tt.upstream, Timeout: 200 * time.Millisecond})
			for _, network := range []string{"udp", "tcp"} {
				begin := time.Now()
				q := question("foreign.example.", dns.TypeA)
				resp := ask(t, network, s.Addr(), q)
				if resp.Rcode != tt.wantRcode {
					t.Errorf("%s rcode: got %s, want %s", network, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if resp.Id != q.Id {
					t.Errorf("%s id: got %d, want %d", network, resp.Id, q.Id)
				}
				if d := time.Since(begin); d > time.Second {
					t.Errorf("%s answered in %v, want under 1s", network, d)
				}
			}
		})
	}
}

// At most maxForwards forwards are in flight: the one past them gets
// SERVFAIL at once, and Close does not wait for the upstream timeout.
func TestForwardLimit(t *testing.T) {
	hole, asked := blackhole(t)
	s, err := Start(context.Background(), Config{Addr: loopback, Resolver: testNames, Upstream: []netip.AddrPort{hole}, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range maxForwards {
		q := question("foreign.example.", dns.TypeA)
		q.Id = uint16(i)
		send(t, conn, q)
	}
	deadline := time.Now().Add(5 * time.Second)
	for asked.Load() < maxForwards {
		if time.Now().After(deadline) {
			t.Fatalf("upstream asked: got %d, want %d", asked.Load(), maxForwards)
		}
		time.Sleep(5 * time.Millisecond)
	}
	q := question("foreign.example.", dns.TypeA)
	q.Id = 4242
	send(t, conn, q)
	resp := receive(t, conn, 2*time.Second)
	if resp == nil || resp.Id != q.Id || resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("query past the limit: got %v, want SERVFAIL with id %d", resp, q.Id)
	}
	begin := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Close took %v with forwards in flight, want under 2s", d)
	}
}

func send(t *testing.T, conn net.Conn, m *dns.Msg) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// receive reads one message from conn; nil: none within d.
func receive(t *testing.T, conn net.Conn, d time.Duration) *dns.Msg {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return m
}

func TestRejected(t *testing.T) {
	s := start(t, Config{})
	two := question("web.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "db.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	none := question("web.", dns.TypeA)
	none.Question = nil
	update := question("web.", dns.TypeA)
	update.Opcode = dns.OpcodeUpdate
	tests := []struct {
		name      string
		m         *dns.Msg
		wantRcode int
	}{
		{"two questions", two, dns.RcodeFormatError},
		{"no question", none, dns.RcodeFormatError},
		{"update", update, dns.RcodeNotImplemented},
	}
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(t, conn, tt.m)
			resp := receive(t, conn, 2*time.Second)
			if resp == nil {
				t.Fatal("no reply")
			}
			if resp.Rcode != tt.wantRcode || resp.Id != tt.m.Id {
				t.Errorf("reply: got rcode %s id %d, want %s id %d", dns.RcodeToString[resp.Rcode], resp.Id, dns.RcodeToString[tt.wantRcode], tt.m.Id)
			}
		})
	}
}

// Garbage gets no reply, and the server goes on answering.
func TestHostileInput(t *testing.T) {
	s := start(t, Config{})
	valid, err := question("web.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	response := question("web.", dns.TypeA)
	response.Response = true
	respBytes, _ := response.Pack()
	rng := rand.New(rand.NewPCG(1, 2))
	var packets [][]byte
	for i := 1; i < len(valid); i++ {
		packets = append(packets, valid[:i])
	}
	for range 200 {
		p := make([]byte, rng.IntN(600))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		p[2] &^= 0x80 // a query, to get past the header check
		packets = append(packets, p)
	}
	// A name pointer that loops onto itself.
	packets = append(packets, append(append([]byte{}, valid[:12]...), 0xc0, 12, 0, 1, 0, 1))
	packets = append(packets, respBytes)

	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range packets {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// A burst may overflow the socket's buffer and lose the query: ask
	// again, as a stub resolver does.
	q := question("web.", dns.TypeA)
	q.Id = 7
	deadline := time.Now().Add(5 * time.Second)
	for answered := false; !answered; {
		if time.Now().After(deadline) {
			t.Fatal("no answer to a valid query after garbage")
		}
		send(t, conn, q)
		for {
			resp := receive(t, conn, 200*time.Millisecond)
			if resp == nil {
				break
			}
			if resp.Id == q.Id && slices.Equal(answers(resp), []string{"A 10.77.0.2"}) {
				answered = true
				break
			}
		}
	}

	// The same over TCP: garbage drops the connection, the server stays.
	tc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0, 5, 1, 2, 3, 4, 5})
	tc.Close()
	ask(t, "tcp", s.Addr(), question("web.", dns.TypeA))
}

// A malformed packet gets no reply at all.
func TestMalformedNoReply(t *testing.T) {
	s := start(t, Config{})
	valid, _ := question("web.", dns.TypeA).Pack()
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range [][]byte{valid[:5], valid[:12], valid[:len(valid)-1]} {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if resp := receive(t, conn, 200*time.Millisecond); resp != nil {
		t.Errorf("reply to a malformed packet: got %v, want none", resp)
	}
}

type panicky struct{}

func (panicky) Lookup(netip.Addr, string) []netip.Addr { panic("boom") }
func (panicky) ReverseLookup(_, _ netip.Addr) []string { panic("boom") }

func TestResolverPanic(t *testing.T) {
	s := start(t, Config{Resolver: panicky{}})
	for range 2 {
		resp := ask(t, "udp", s.Addr(), question("web.", dns.TypeA))
		if resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("rcode: got %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
		}
	}
}

func TestStartErrors(t *testing.T) {
	s := start(t, Config{})
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address in use", Config{Addr: s.Addr(), Resolver: testNames}, "dns: listen udp " + s.Addr().String() + ": "},
		{"no address", Config{Resolver: testNames}, "dns: address: not set"},
		{"no resolver", Config{Addr: loopback}, "dns: resolver: not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start: got no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Start: got %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	up := startUpstream(t)
	s, err := Start(context.Background(), Config{Addr: loopback, Resolver: testNames, Upstream: []netip.AddrPort{up.addr}})
	if err != nil {
		t.Fatal(err)
	}
	ask(t, "udp", s.Addr(), question("web.", dns.TypeA))
	ask(t, "tcp", s.Addr(), question("foreign.example.", dns.TypeA))
	// An idle TCP client must not hold Close up.
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The port is free again, over UDP and TCP.
	s2, err := Start(context.Background(), Config{Addr: s.Addr(), Resolver: testNames})
	if err != nil {
		t.Fatalf("Start again on %s: %v", s.Addr(), err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// Nothing of the two servers is left running (the upstream's
	// goroutines are, until the cleanup: count them in).
	upstreamGoroutines := 2
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+upstreamGoroutines {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: got %d, want at most %d\n%s", n, before+upstreamGoroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUpstreams(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		conf string
		want []netip.AddrPort
	}{
		{"empty", "", nil},
		{"one", "nameserver 1.1.1.1\n", []netip.AddrPort{ap("1.1.1.1:53")}},
		{
			"typical",
			"# generated by NetworkManager\nsearch example.com\noptions edns0 trust-ad ndots:2\nnameserver 192.168.1.1\nnameserver 8.8.8.8 # google\n; old\n;nameserver 9.9.9.9\n",
			[]netip.AddrPort{ap("192.168.1.1:53"), ap("8.8.8.8:53")},
		},
		{
			"IPv6",
			"nameserver 2001:4860:4860::8888\nnameserver fe80::1%eth0\nnameserver ::ffff:10.0.0.1\n",
			[]netip.AddrPort{ap("[2001:4860:4860::8888]:53"), ap("[fe80::1%eth0]:53"), ap("10.0.0.1:53")},
		},
		{
			"garbage",
			"nameserver\nnameserver not-an-ip\nnameservers 1.2.3.4\n  nameserver\t127.0.0.53  \r\nNAMESERVER 5.5.5.5\nnameserver 1.2.3\n\x00\xff\n",
			[]netip.AddrPort{ap("127.0.0.53:53")},
		},
		{"duplicates", "nameserver 1.1.1.1\nnameserver 1.1.1.1\n", []netip.AddrPort{ap("1.1.1.1:53")}},
		{"no newline at the end", "nameserver 1.1.1.1", []netip.AddrPort{ap("1.1.1.1:53")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Upstreams([]byte(tt.conf)); !slices.Equal(got, tt.want) {
				t.Errorf("Upstreams: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseReverse(t *testing.T) {
	tests := []struct {
		name   string
		want   string
		wantOK bool
	}{
		{"4.3.0.10.in-addr.arpa.", "10.0.3.4", true},
		{"4.3.0.10.IN-ADDR.ARPA", "10.0.3.4", true},
		{"255.255.255.255.in-addr.arpa.", "255.255.255.255", true},
		{"0.0.0.0.in-addr.arpa.", "0.0.0.0", true},
		{"3.0.10.in-addr.arpa.", "", false},
		{"5.4.3.0.10.in-addr.arpa.", "", false},
		{"256.3.0.10.in-addr.arpa.", "", false},
		{"04.3.0.10.in-addr.arpa.", "", false},
		{"+4.3.0.10.in-addr.arpa.", "", false},
		{"-4.3.0.10.in-addr.arpa.", "", false},
		{"4..0.10.in-addr.arpa.", "", false},
		{"a.3.0.10.in-addr.arpa.", "", false},
		{"in-addr.arpa.", "", false},
		{"4.3.0.10.ip6.arpa.", "", false},
		{"web.", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := parseReverse(tt.name)
		if ok != tt.wantOK || (ok && got.String() != tt.want) {
			t.Errorf("parseReverse(%q): got %v %v, want %s %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

// FuzzAnswer feeds the query handler any message that parses; it must
// not panic, and its reply must pack.
func FuzzAnswer(f *testing.F) {
	for _, q := range []*dns.Msg{
		question("web.", dns.TypeA),
		question("WEB.mynet.", dns.TypeANY),
		question("web.", dns.TypeAAAA),
		question("2.0.77.10.in-addr.arpa.", dns.TypePTR),
		question("x.y.in-addr.arpa.", dns.TypePTR),
		question("foreign.example.", dns.TypeMX),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	weird := names{"web": {netip.MustParseAddr("10.77.0.2")}}
	for _, n := range []string{"", ".", "a..b", strings.Repeat("x", 300), "bad name\x00"} {
		weird[n] = []netip.Addr{netip.MustParseAddr("10.77.0.2")}
	}
	s := &Server{resolver: weird, log: slog.New(slog.DiscardHandler), forwards: make(chan struct{}, 1)}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !wellFormed(b) {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			t.Fatalf("wellFormed but Unpack: %v", err)
		}
		resp := s.answer(context.Background(), netip.Addr{}, req, false)
		resp.Truncate(udpSize(req))
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("pack reply to %v: %v", req, err)
		}
	})
}
