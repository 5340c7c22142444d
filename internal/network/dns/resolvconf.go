package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
)

// Upstreams returns the nameservers of a resolv.conf, in order and each
// once, on port 53; IPv6 ones too, zones kept. Comments, other options and
// lines that do not parse are skipped. capsad runs in the host's network
// namespace, so a loopback nameserver (systemd-resolved's 127.0.0.53) is
// reachable from it and is kept.
func Upstreams(resolvConf []byte) []netip.AddrPort {
	var out []netip.AddrPort
	seen := make(map[netip.AddrPort]bool)
	sc := bufio.NewScanner(bytes.NewReader(resolvConf))
	sc.Buffer(nil, 64*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap(), 53)
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	// A line past the scanner's buffer ends the scan: what came before
	// it is still good, and a resolv.conf has no business being that long.
	return out
}
