package dns

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// forward asks the upstreams req, in order, and returns the first answer
// that is not SERVFAIL or REFUSED, with req's ID; nil: none answered, or
// too many forwards are in flight. A question that came over TCP goes over
// TCP; one over UDP goes over UDP and again over TCP if the answer is
// truncated. Nothing is cached.
func (s *Server) forward(ctx context.Context, req *dns.Msg, tcp bool) *dns.Msg {
	if len(s.upstream) == 0 {
		return nil
	}
	select {
	case s.forwards <- struct{}{}:
		defer func() { <-s.forwards }()
	default:
		s.log.Debug("dns forward dropped: too many in flight", "name", req.Question[0].Name)
		return nil
	}

	// A fresh ID per forward: the client's is not ours to reuse, and a
	// random one makes a spoofed upstream answer harder to land.
	q := req.Copy()
	q.Id = dns.Id()
	for _, up := range s.upstream {
		if ctx.Err() != nil {
			return nil
		}
		addr := up.String()
		resp, err := s.exchange(ctx, q, addr, tcp)
		if err == nil && resp.Truncated && !tcp {
			// Keep the truncated answer if TCP fails: the client
			// can still retry over TCP itself.
			if full, err := s.exchange(ctx, q, addr, true); err == nil {
				resp = full
			} else {
				s.log.Debug("dns forward over tcp", "upstream", addr, "error", err)
			}
		}
		if err != nil {
			s.log.Debug("dns forward", "upstream", addr, "name", req.Question[0].Name, "error", err)
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			// The next upstream may know better, as glibc's stub does.
			continue
		}
		resp.Id = req.Id
		return resp
	}
	return nil
}

// exchange asks one upstream at addr, within s.timeout; ctx ending (Close)
// cuts it short.
func (s *Server) exchange(ctx context.Context, q *dns.Msg, addr string, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: s.timeout}
	if tcp {
		c.Net = "tcp"
	}
	co, err := c.DialContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// The exchange obeys ctx's deadline but not its cancellation.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, co)
	if err != nil {
		return nil, err
	}
	if !sameQuestion(q, resp) {
		return nil, fmt.Errorf("answer to another question: %v", resp.Question)
	}
	return resp, nil
}

// sameQuestion tells whether resp answers q's question. An answer with no
// question (a FORMERR, say) is taken as is.
func sameQuestion(q, resp *dns.Msg) bool {
	if len(resp.Question) == 0 {
		return true
	}
	if len(resp.Question) != 1 {
		return false
	}
	a, b := q.Question[0], resp.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
