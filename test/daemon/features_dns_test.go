package daemon_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/capsa-dev/capsa/internal/daemontest"
)

// TestFeatureDNSForward: names that are not containers' go to the host's
// resolvers: from a user network through its responder, and from the
// default network too when the host's only resolver is on loopback
// (which a container cannot reach; systemd-resolved's 127.0.0.53 is the
// common case), through the default network's responder.
func TestFeatureDNSForward(t *testing.T) {
	// The host's resolver: on loopback, port 53, as resolv.conf can only
	// say.
	pc, err := net.ListenPacket("udp", "127.0.0.77:53")
	if err != nil {
		t.Skipf("no fake host resolver on 127.0.0.77:53: %v", err)
	}
	var asked atomic.Int32
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		asked.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		switch {
		case len(r.Question) != 1 || r.Question[0].Name != "upstream.test.":
			m.Rcode = dns.RcodeNameError
		case r.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "upstream.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
		default: // the name exists, with no record of that type (NOERROR)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer srv.Shutdown()
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("# the test's host\nnameserver 127.0.0.77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := daemontest.StartDaemon(t, &daemontest.Daemon{ResolvConf: rc})
	d.ImportBusybox()
	d.MustCapsa("network", "create", "app")

	for _, netArgs := range [][]string{{"--network", "app"}, {}} {
		args := append(append([]string{"run", "--rm"}, netArgs...), "busybox", "nslookup", "upstream.test")
		if out := d.MustCapsa(args...); !strings.Contains(out, "192.0.2.7") {
			t.Errorf("capsa %s: %q", strings.Join(args, " "), out)
		}
	}
	if asked.Load() == 0 {
		t.Error("the host's resolver was never asked")
	}
	// The default network's resolv.conf names its responder, the
	// loopback resolver being out of the container's reach.
	gw := d.Subnet().Addr().Next().String()
	if out := d.MustCapsa("run", "--rm", "busybox", "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver "+gw) || strings.Contains(out, "127.0.0.77") {
		t.Errorf("default network's resolv.conf: %q, want nameserver %s", out, gw)
	}
	// An unknown name is an unknown name (NXDOMAIN relayed), not a hang.
	if r := d.Capsa("run", "--rm", "--network", "app", "busybox", "nslookup", "nowhere.test"); r.Code == 0 {
		t.Errorf("nslookup nowhere.test: %v", r)
	}
	d.MustCapsa("network", "rm", "app")
}
