package dns

import (
	"context"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// serve answers one query that accept and dropMalformed let through.
func (s *Server) serve(ctx context.Context, w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	defer func() {
		// The Resolver is the engine's code; a bug there must cost one
		// answer, not the daemon.
		if v := recover(); v != nil {
			s.log.Error("dns query panicked", "panic", v, "stack", string(debug.Stack()))
			_ = w.WriteMsg(failure(req))
		}
	}()
	var client netip.Addr
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		client = ap.Addr().Unmap()
	}
	resp := s.answer(ctx, client, req, tcp)
	if !tcp {
		resp.Truncate(udpSize(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns reply", "client", w.RemoteAddr().String(), "error", err)
	}
}

// answer is the reply to client's req, never nil: from the Resolver when
// it knows the question, else from the upstreams, else SERVFAIL.
func (s *Server) answer(ctx context.Context, client netip.Addr, req *dns.Msg, tcp bool) *dns.Msg {
	if len(req.Question) != 1 {
		// accept lets through only one question; this guards callers
		// other than the server, like the fuzz test.
		resp := new(dns.Msg)
		resp.SetRcodeFormatError(req)
		return resp
	}
	if resp := s.local(client, req); resp != nil {
		return resp
	}
	if resp := s.forward(ctx, req, tcp); resp != nil {
		return resp
	}
	return failure(req)
}

// local answers req from the Resolver; nil: not a question about a
// container.
func (s *Server) local(client netip.Addr, req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	if q.Qclass != dns.ClassINET {
		return nil
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		if name == "" {
			return nil
		}
		addrs := s.resolver.Lookup(client, name)
		if addrs == nil {
			return nil
		}
		resp := reply(req)
		if q.Qtype == dns.TypeAAAA {
			// Containers are IPv4 only: the name exists, with no
			// IPv6 address.
			return resp
		}
		hdr := dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			}
		}
		return resp
	case dns.TypePTR:
		ip, ok := parseReverse(q.Name)
		if !ok {
			return nil
		}
		var answer []dns.RR
		hdr := dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}
		for _, name := range s.resolver.ReverseLookup(client, ip) {
			fqdn := dns.Fqdn(name)
			if _, ok := dns.IsDomainName(fqdn); !ok || len(fqdn) > 255 {
				continue
			}
			answer = append(answer, &dns.PTR{Hdr: hdr, Ptr: fqdn})
		}
		if len(answer) == 0 {
			return nil
		}
		resp := reply(req)
		resp.Answer = answer
		return resp
	}
	return nil
}

// reply is an empty authoritative NOERROR answer to req.
func reply(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	return resp
}

// failure is SERVFAIL for req.
func failure(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	resp.RecursionAvailable = true
	return resp
}

// udpSize is the largest reply req's sender takes over UDP: 512 bytes, or
// the size it gave in EDNS0.
func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

// parseReverse reads the address in an in-addr.arpa name such as
// "4.3.0.10.in-addr.arpa." (10.0.3.4), case-insensitively.
func parseReverse(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		if l == "" || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(l, 10, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[3-i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}
