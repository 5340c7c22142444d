package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// HostsEntry is a line of /etc/hosts.
type HostsEntry struct {
	IP    string
	Names []string
}

// HostsFile is a container's /etc/hosts: base (nil: docker's loopback
// and IPv6 lines), then entries, one per line.
func HostsFile(base []byte, entries []HostsEntry) []byte {
	var b bytes.Buffer
	if base == nil {
		base = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	b.Write(base)
	for _, e := range entries {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Names, " "))
	}
	return b.Bytes()
}

// ResolvConf is what a container's /etc/resolv.conf says.
type ResolvConf struct {
	Nameservers []string
	Search      []string
	Options     []string
}

// ParseResolvConf reads the host's resolv.conf.
func ParseResolvConf(data []byte) ResolvConf {
	var rc ResolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.Nameservers = append(rc.Nameservers, f[1])
		case "search", "domain":
			rc.Search = f[1:]
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc
}

// WithoutLoopback drops the nameservers a container cannot reach from
// its own network namespace (127.0.0.53 and the like).
func (rc ResolvConf) WithoutLoopback() ResolvConf {
	out := rc
	out.Nameservers = nil
	for _, ns := range rc.Nameservers {
		if a, err := netip.ParseAddr(ns); err == nil && a.IsLoopback() {
			continue
		}
		out.Nameservers = append(out.Nameservers, ns)
	}
	return out
}

// Bytes is rc in resolv.conf's format.
func (rc ResolvConf) Bytes() []byte {
	var b bytes.Buffer
	if len(rc.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.Search, " "))
	}
	for _, ns := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.Options, " "))
	}
	return b.Bytes()
}
