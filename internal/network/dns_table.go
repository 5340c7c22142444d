package network

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/capsa-dev/capsa/internal/network/dns"
)

// dnsNet is a bridge network's DNS responder: on a user network it
// answers for containers; on the default network it only forwards, as
// docker's.
type dnsNet struct {
	id     string
	addr   netip.Addr
	names  bool
	table  *nameTable
	server *dns.Server
}

// nameTable is what the responders of every network answer from: each
// container's names and address on each network it is on. A container
// asking finds the containers of every network it is on, as with
// docker's embedded DNS, whichever network's responder it asks.
type nameTable struct {
	// mu guards entries.
	mu      sync.RWMutex
	entries []nameEntry
}

type nameEntry struct {
	network, container string
	ip                 netip.Addr
	names              []string
}

func (m *Manager) startDNS(ctx context.Context, n Network) (*dnsNet, error) {
	d := &dnsNet{id: n.ID, addr: n.Gateway, names: !n.Predefined, table: m.names}
	s, err := dns.Start(context.WithoutCancel(ctx), dns.Config{
		Addr:     netip.AddrPortFrom(n.Gateway, 53),
		Resolver: d,
		Upstream: dns.Upstreams(m.cfg.ResolvConf),
		Log:      m.log.With("network", n.Name),
	})
	if err != nil {
		return nil, err
	}
	d.server = s
	return d, nil
}

func (d *dnsNet) close() { _ = d.server.Close() }

func (t *nameTable) register(nid, id string, ip netip.Addr, names []string) {
	lower := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" {
			lower = append(lower, strings.ToLower(n))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = slices.DeleteFunc(t.entries, func(e nameEntry) bool { return e.network == nid && e.container == id })
	t.entries = append(t.entries, nameEntry{network: nid, container: id, ip: ip, names: lower})
}

func (t *nameTable) unregister(nid, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = slices.DeleteFunc(t.entries, func(e nameEntry) bool { return e.network == nid && e.container == id })
}

// networksOf are the networks the container at address client is on,
// besides network nid. Preconditions: t.mu held.
func (t *nameTable) networksOf(nid string, client netip.Addr) map[string]bool {
	nets := map[string]bool{nid: true}
	for _, e := range t.entries {
		if e.network != nid || e.ip != client {
			continue
		}
		for _, o := range t.entries {
			if o.container == e.container {
				nets[o.network] = true
			}
		}
	}
	return nets
}

// Lookup answers a name or alias with the addresses, on the networks the
// asking container is on, of every container that has it (an alias may
// be shared).
func (d *dnsNet) Lookup(client netip.Addr, name string) []netip.Addr {
	if !d.names {
		return nil
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	d.table.mu.RLock()
	defer d.table.mu.RUnlock()
	nets := d.table.networksOf(d.id, client)
	var out []netip.Addr
	for _, e := range d.table.entries {
		if nets[e.network] && slices.Contains(e.names, name) && !slices.Contains(out, e.ip) {
			out = append(out, e.ip)
		}
	}
	return out
}

// ReverseLookup answers an address with its container's names.
func (d *dnsNet) ReverseLookup(client, ip netip.Addr) []string {
	if !d.names {
		return nil
	}
	d.table.mu.RLock()
	defer d.table.mu.RUnlock()
	nets := d.table.networksOf(d.id, client)
	for _, e := range d.table.entries {
		if nets[e.network] && e.ip == ip {
			return e.names
		}
	}
	return nil
}
