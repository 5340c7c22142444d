package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/network"
	"github.com/capsa-dev/capsa/internal/oci"
)

// NetworkOptions say how a container is networked.
type NetworkOptions struct {
	// Mode is "" (the default network), "bridge", "host", "none",
	// "container:<name|id>" (join that container's network namespace), or
	// a user network's name or ID.
	Mode string `json:"mode,omitempty"`
	// Endpoints are the options of the container's endpoint on a network
	// (by the name or ID the user gave; the Mode's network among them).
	// A network named here and not by Mode is joined too.
	Endpoints map[string]EndpointOptions `json:"endpoints,omitempty"`
	// DNS servers, search domains and resolver options for
	// /etc/resolv.conf (none: the network's own).
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dns_search,omitempty"`
	DNSOptions []string `json:"dns_options,omitempty"`
	// ExtraHosts are "name:ip" lines for /etc/hosts (ip "host-gateway":
	// the container's gateway).
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// Ports to publish on the host.
	Ports []PortBinding `json:"ports,omitempty"`
	// PublishAll publishes every port the image exposes (and that Ports
	// does not) on a free host port (docker run -P).
	PublishAll bool `json:"publish_all,omitempty"`
}

// EndpointOptions are a container's options on one network.
type EndpointOptions struct {
	// Aliases are names the container also has on the network's DNS.
	Aliases []string `json:"aliases,omitempty"`
	// IPv4 is the address to take ("": the next free one).
	IPv4 string `json:"ipv4,omitempty"`
}

// PortBinding publishes a container's port on the host.
type PortBinding struct {
	// Proto is "tcp" or "udp".
	Proto         string `json:"proto"`
	ContainerPort uint16 `json:"container_port"`
	// HostIP is the host address to bind ("": all of them).
	HostIP string `json:"host_ip,omitempty"`
	// HostPort is the host's port (0: a free one, chosen at start);
	// with HostPortEnd, the first free one of HostPort-HostPortEnd.
	HostPort    uint16 `json:"host_port,omitempty"`
	HostPortEnd uint16 `json:"host_port_end,omitempty"`
}

// NetworkInfo is a container's network, as inspect shows it.
type NetworkInfo struct {
	// Options are the ones the container was created with.
	Options NetworkOptions
	// SandboxKey is the path of its network namespace while it runs.
	SandboxKey string
	// Ports are the bindings in force (host ports chosen) while it runs.
	Ports []PortBinding
	// Endpoints, one per network the container is on, in the order it
	// joined them. IP, Gateway and MAC are set while it runs.
	Endpoints []EndpointInfo
}

// EndpointInfo is a container's endpoint on one network.
type EndpointInfo struct {
	Network    string // the network's name
	NetworkID  string
	EndpointID string
	Aliases    []string
	IP         netip.Prefix // address and prefix length
	Gateway    netip.Addr
	MAC        string
	// IPv4 is the address the user asked for ("": any).
	IPv4 string
}

// NetworkMember is a container on a network, as network inspect shows it.
type NetworkMember struct {
	ContainerID, Name string
	Endpoint          EndpointInfo
}

// netState is what a running container has of its networks, kept in its
// record so that a restarted engine knows what to release.
type netState struct {
	// Netns is the namespace the engine made ("": none of its own).
	Netns     string          `json:"netns,omitempty"`
	Endpoints []endpointState `json:"endpoints,omitempty"`
	// Ports are the published ports as bound (host ports chosen).
	Ports []network.PortMapping `json:"ports,omitempty"`
}

type endpointState struct {
	network.Attachment
	EndpointID string   `json:"endpoint_id"`
	Aliases    []string `json:"aliases,omitempty"`
}

// netKind is how a container is networked.
type netKind int

const (
	netBridge    netKind = iota // bridge networks, in a namespace of its own
	netHost                     // the host's namespace
	netNone                     // a namespace with loopback only
	netContainer                // another container's namespace
)

// netTarget is a network a container joins.
type netTarget struct {
	net  network.Network
	opts EndpointOptions
}

// resolveNetworks reads o: the kind, the networks in the order the
// container joins them (the Mode's first), and for container mode the
// container whose namespace it joins.
func (e *Engine) resolveNetworks(o NetworkOptions) (netKind, []netTarget, string, error) {
	mode := o.Mode
	if target, ok := strings.CutPrefix(mode, "container:"); ok {
		if target == "" {
			return 0, nil, "", errdefs.Invalid("invalid network mode container: a container name or ID is required")
		}
		return netContainer, nil, target, nil
	}
	if mode == "" || mode == "default" {
		mode = network.DefaultName
	}
	primary, err := e.net.Get(mode)
	if err != nil {
		return 0, nil, "", err
	}
	switch primary.Driver {
	case network.DriverHost:
		return netHost, nil, "", nil
	case network.DriverNull:
		return netNone, nil, "", nil
	}
	ts := []netTarget{{net: primary, opts: endpointFor(o.Endpoints, primary, mode)}}
	for _, ref := range slices.Sorted(maps.Keys(o.Endpoints)) {
		n, err := e.net.Get(ref)
		if err != nil {
			return 0, nil, "", err
		}
		if slices.ContainsFunc(ts, func(t netTarget) bool { return t.net.ID == n.ID }) {
			continue
		}
		if n.Driver != network.DriverBridge {
			return 0, nil, "", errdefs.Invalid(fmt.Sprintf("container cannot be connected to network %s besides network %s", n.Name, primary.Name))
		}
		ts = append(ts, netTarget{net: n, opts: o.Endpoints[ref]})
	}
	for _, t := range ts {
		if t.opts.IPv4 == "" {
			continue
		}
		if t.net.Predefined {
			return 0, nil, "", errdefs.Invalid("user specified IP address is supported on user defined networks only")
		}
		a, err := netip.ParseAddr(t.opts.IPv4)
		if err != nil || !a.Is4() {
			return 0, nil, "", errdefs.Invalid(fmt.Sprintf("invalid IPv4 address: %s", t.opts.IPv4))
		}
		if !t.net.Subnet.Contains(a) || a == t.net.Gateway || a == t.net.Subnet.Addr() {
			return 0, nil, "", errdefs.Invalid(fmt.Sprintf("invalid address %s: it is not a free host address of network %s's subnet %s", a, t.net.Name, t.net.Subnet))
		}
	}
	for _, t := range ts {
		if len(t.opts.Aliases) > 0 && t.net.Predefined {
			return 0, nil, "", errdefs.Invalid("network-scoped alias is supported only for containers in user defined networks")
		}
	}
	return netBridge, ts, "", nil
}

// endpointFor finds the endpoint options given for n under any of its
// names.
func endpointFor(eps map[string]EndpointOptions, n network.Network, ref string) EndpointOptions {
	for _, k := range []string{ref, n.Name, n.ID} {
		if o, ok := eps[k]; ok {
			return o
		}
	}
	return EndpointOptions{}
}

// validate checks what o writes into the container's /etc files, which
// must stay one entry per line: names, addresses and resolver words
// without whitespace (a newline would add lines of the caller's choosing).
func (o NetworkOptions) validate() error {
	word := func(what, v string) error {
		if v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
			return errdefs.Invalid(fmt.Sprintf("invalid %s %q: it must be one word", what, v))
		}
		return nil
	}
	for _, h := range o.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || word("extra host name", name) != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid extra host %q: it must be name:ip", h))
		}
		if _, err := netip.ParseAddr(ip); err != nil && ip != "host-gateway" {
			return errdefs.Invalid(fmt.Sprintf("invalid IP address in extra host %q", h))
		}
	}
	for _, d := range o.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid DNS server %q: it must be an IP address", d))
		}
	}
	for _, s := range o.DNSSearch {
		if err := word("DNS search domain", s); err != nil {
			return err
		}
	}
	for _, s := range o.DNSOptions {
		if err := word("DNS option", s); err != nil {
			return err
		}
	}
	return nil
}

// checkPorts validates published ports.
func checkPorts(ps []PortBinding) error {
	for _, p := range ps {
		if p.Proto != "tcp" && p.Proto != "udp" {
			return errdefs.Invalid(fmt.Sprintf("invalid proto %q for port %d: tcp or udp", p.Proto, p.ContainerPort))
		}
		if p.ContainerPort == 0 {
			return errdefs.Invalid("invalid port specification: container port 0")
		}
		if p.HostPortEnd != 0 && (p.HostPort == 0 || p.HostPortEnd < p.HostPort) {
			return errdefs.Invalid(fmt.Sprintf("invalid host port range %d-%d for port %d/%s", p.HostPort, p.HostPortEnd, p.ContainerPort, p.Proto))
		}
		if p.HostIP != "" {
			if a, err := netip.ParseAddr(p.HostIP); err != nil || !a.Is4() {
				return errdefs.Invalid(fmt.Sprintf("invalid IP address %q for port %d/%s: only IPv4 addresses can be bound", p.HostIP, p.ContainerPort, p.Proto))
			}
		}
	}
	return nil
}

// The files a container gets in /etc, in its bundle.
func (e *Engine) etcFile(id, name string) string { return filepath.Join(e.bundleDir(id), name) }

var etcFiles = []struct{ name, dst string }{
	{"hostname", "/etc/hostname"}, {"hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"},
}

// withNetwork is the spec's side of a container's network at create: the
// namespace (made at start, at a path known now) and the /etc files bound
// from the bundle, unless the user mounts their own there.
func (e *Engine) withNetwork(id string, kind netKind) oci.SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		switch kind {
		case netBridge:
			if err := oci.WithNetworkNamespace(e.net.NetnsPath(id))(ctx, s); err != nil {
				return err
			}
		case netHost:
			if err := oci.WithHostNetwork()(ctx, s); err != nil {
				return err
			}
		}
		for _, f := range etcFiles {
			if slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == f.dst }) {
				continue
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: e.etcFile(id, f.name),
				Options: []string{"rbind", "rprivate", "rw"}})
		}
		return nil
	}
}

// writeEtc writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf in place (a bound file keeps its inode, so a running
// container sees the new content).
func (e *Engine) writeEtc(id, hostname string, kind netKind, o NetworkOptions, eps []endpointState) error {
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       e.hostsFile(hostname, kind, o, eps),
		"resolv.conf": e.resolvConf(kind, o, eps).Bytes(),
	}
	for name, data := range files {
		if err := os.WriteFile(e.etcFile(id, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// hostsFile is the container's /etc/hosts: the host's in host mode,
// docker's otherwise; then the --add-host entries (validated at create;
// host-gateway is the first network's gateway, left out without one) and
// the container's own addresses.
func (e *Engine) hostsFile(hostname string, kind netKind, o NetworkOptions, eps []endpointState) []byte {
	var base []byte
	if kind == netHost {
		base, _ = os.ReadFile("/etc/hosts")
	}
	var entries []network.HostsEntry
	for _, h := range o.ExtraHosts {
		name, ip, _ := strings.Cut(h, ":")
		if ip == "host-gateway" {
			if len(eps) == 0 {
				continue
			}
			ip = eps[0].Gateway.String()
		}
		entries = append(entries, network.HostsEntry{IP: ip, Names: []string{name}})
	}
	for _, ep := range eps {
		entries = append(entries, network.HostsEntry{IP: ep.IP.Addr().String(), Names: []string{hostname}})
	}
	return network.HostsFile(base, entries)
}

// resolvConf: --dns and friends win; a container on a user network asks
// that network's responder (names of the network, the rest forwarded);
// others get the host's (docker's default network).
func (e *Engine) resolvConf(kind netKind, o NetworkOptions, eps []endpointState) network.ResolvConf {
	var rc network.ResolvConf
	if kind == netHost {
		data, _ := os.ReadFile("/etc/resolv.conf")
		rc = network.ParseResolvConf(data)
	} else {
		rc = e.net.HostResolvConf()
		for _, ep := range eps {
			if a, ok := e.net.DNSServer(ep.NetworkID); ok {
				rc.Nameservers = []string{a.String()}
				break
			}
		}
	}
	if len(o.DNS) > 0 {
		rc.Nameservers = o.DNS
	}
	if len(o.DNSSearch) > 0 {
		rc.Search = o.DNSSearch
	}
	if len(o.DNSOptions) > 0 {
		rc.Options = o.DNSOptions
	}
	return rc
}

// setupNetwork gives container c, about to start, its network: for
// bridge networks a namespace, an interface and address on each network,
// its published ports and its names on the networks' DNS; for container
// mode the other container's namespace. It writes the /etc files.
//
// The namespace and the port reservations are made, and recorded in c,
// before it returns; the interfaces (the plugins' work, most of the time)
// are made in the background while the caller launches the shim, whose
// runtime needs only the namespace to exist: the caller calls wait before
// the container's process starts. If setupNetwork or wait fails, what the
// plugins made is undone; the namespace and ports are c's to release
// (releaseNetwork). Preconditions: c.opMu held.
func (e *Engine) setupNetwork(ctx context.Context, c *Container) (wait func() error, _ error) {
	done := func() error { return nil }
	c.mu.Lock()
	id, name, o := c.rec.ID, c.rec.Name, c.rec.Network
	c.mu.Unlock()
	hostname, err := e.hostname(id)
	if err != nil {
		return nil, err
	}
	kind, targets, other, err := e.resolveNetworks(o)
	if err != nil {
		return nil, err
	}
	switch kind {
	case netHost, netNone:
		return done, e.writeEtc(id, hostname, kind, o, nil)
	case netContainer:
		return done, e.joinContainerNetwork(ctx, id, other)
	}
	t0 := time.Now()
	st := &netState{Netns: e.net.NetnsPath(id)}
	var ports []network.PortMapping
	for _, p := range o.Ports {
		ports = append(ports, network.PortMapping{HostPort: int(p.HostPort), HostPortEnd: int(p.HostPortEnd), ContainerPort: int(p.ContainerPort), Protocol: p.Proto, HostIP: p.HostIP})
	}
	if len(ports) > 0 {
		if st.Ports, err = e.net.Reserve(id, ports); err != nil {
			return nil, err
		}
	}
	if err := network.NewNetns(st.Netns); err != nil {
		e.net.Release(id)
		return nil, err
	}
	c.mu.Lock()
	c.rec.Net = st
	c.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		eps, err := e.attachNetworks(context.WithoutCancel(ctx), id, st, targets)
		if err == nil {
			err = e.writeEtc(id, hostname, kind, o, eps)
		}
		if err != nil {
			for i := len(eps) - 1; i >= 0; i-- {
				var pm []network.PortMapping
				if i == 0 {
					pm = st.Ports
				}
				_ = e.net.Detach(context.WithoutCancel(ctx), id, st.Netns, eps[i].IfName, eps[i].NetworkID, pm)
			}
			errc <- err
			return
		}
		full := *st
		full.Endpoints = eps
		e.registerNames(id, name, &full)
		c.mu.Lock()
		c.rec.Net = &full
		c.mu.Unlock()
		e.log.Debug("network set up", "container", id, "networks", len(eps), "took", time.Since(t0))
		errc <- nil
	}()
	return func() error { return <-errc }, nil
}

// attachNetworks runs the plugins for each of targets, in order (eth0,
// eth1, ...); the ports are published through the first. On error it
// returns what it attached.
func (e *Engine) attachNetworks(ctx context.Context, id string, st *netState, targets []netTarget) ([]endpointState, error) {
	var eps []endpointState
	for i, t := range targets {
		var pm []network.PortMapping
		if i == 0 {
			pm = st.Ports
		}
		a, err := e.net.Attach(ctx, id, st.Netns, fmt.Sprintf("eth%d", i), t.net.ID, t.opts.IPv4, pm)
		if err != nil {
			return eps, err
		}
		epid, err := newID()
		if err != nil {
			return eps, err
		}
		eps = append(eps, endpointState{Attachment: a, EndpointID: epid, Aliases: t.opts.Aliases})
	}
	return eps, nil
}

// registerNames puts the container on its networks' DNS: its name, its
// short ID and its aliases (docker's names).
func (e *Engine) registerNames(id, name string, st *netState) {
	for _, ep := range st.Endpoints {
		names := append([]string{name, id[:12]}, ep.Aliases...)
		e.net.Register(ep.NetworkID, id, ep.IP.Addr(), names)
	}
}

// joinContainerNetwork points container id's spec at the running
// container other's network namespace, and gives it other's /etc files.
func (e *Engine) joinContainerNetwork(ctx context.Context, id, other string) error {
	oc, err := e.lookup(other)
	if err != nil {
		return err
	}
	oc.mu.Lock()
	oid, ost, onet := oc.rec.ID, oc.rec.State, oc.rec.Net
	oc.mu.Unlock()
	if oid == id {
		return errdefs.Invalid("cannot join own network namespace")
	}
	if !ost.Status.Running() || ost.Pid == 0 {
		return errdefs.Conflict(fmt.Sprintf("cannot join network of a non running container: %s", shortID(oid)))
	}
	path := fmt.Sprintf("/proc/%d/ns/net", ost.Pid)
	if onet != nil && onet.Netns != "" {
		path = onet.Netns
	}
	for _, f := range etcFiles {
		data, err := os.ReadFile(e.etcFile(oid, f.name))
		if err != nil {
			return fmt.Errorf("network of container %s: %w", shortID(oid), err)
		}
		if err := os.WriteFile(e.etcFile(id, f.name), data, 0o644); err != nil {
			return err
		}
	}
	return e.patchSpec(id, oci.WithNetworkNamespace(path))
}

// patchSpec applies opt to container id's config.json.
func (e *Engine) patchSpec(id string, opt oci.SpecOpt) error {
	p := filepath.Join(e.bundleDir(id), "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if err := opt(context.Background(), &s); err != nil {
		return err
	}
	if data, err = json.MarshalIndent(&s, "", "\t"); err != nil {
		return err
	}
	return atomicfile.Write(p, data, 0o600)
}

// hostname is container id's hostname: from its record, or for a
// container created before the record had it, from its config.json.
func (e *Engine) hostname(id string) (string, error) {
	c, err := e.lookup(id)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	h := c.rec.Hostname
	c.mu.Unlock()
	if h != "" {
		return h, nil
	}
	return e.specHostname(id)
}

// specHostname reads the hostname from container id's config.json.
func (e *Engine) specHostname(id string) (string, error) {
	data, err := os.ReadFile(filepath.Join(e.bundleDir(id), "config.json"))
	if err != nil {
		return "", err
	}
	var s struct {
		Hostname string `json:"hostname"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return "", err
	}
	return s.Hostname, nil
}

// releaseNetwork undoes setupNetwork, once the container's processes are
// gone (or never came): names, ports, interfaces and addresses, the
// namespace. Every step is done even if one fails; what fails is logged,
// and the engine's next open removes it as an orphan.
func (e *Engine) releaseNetwork(ctx context.Context, c *Container) {
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.Net
	c.rec.Net = nil
	c.mu.Unlock()
	if st == nil {
		return
	}
	t0 := time.Now()
	ctx = context.WithoutCancel(ctx)
	e.net.Release(id)
	// The namespace goes first: the kernel then destroys its end of each
	// veth (and so the pair) in its own time, off this path, and the
	// plugins only release addresses and port rules, without entering it
	// (deleting a veth waits for RCU grace periods: tens of ms).
	if st.Netns != "" {
		if err := network.RemoveNetns(st.Netns); err != nil {
			e.log.Warn("remove network namespace", "container", id, "err", err)
		}
	}
	for i := len(st.Endpoints) - 1; i >= 0; i-- {
		ep := st.Endpoints[i]
		e.net.Unregister(ep.NetworkID, id)
		var pm []network.PortMapping
		if i == 0 {
			pm = st.Ports
		}
		if err := e.net.Detach(ctx, id, st.Netns, ep.IfName, ep.NetworkID, pm); err != nil {
			e.log.Warn("leave network", "container", id, "network", ep.NetworkID, "err", err)
		}
	}
	e.log.Debug("network released", "container", id, "took", time.Since(t0))
}

// reconcileNetworks, after the containers are reconciled: a running
// container gets its names and port reservations back, a container that
// is not running loses what its network left, and what belongs to no
// running container (namespaces, leases, rules) goes.
func (e *Engine) reconcileNetworks(ctx context.Context) {
	e.mu.Lock()
	cs := slices.Collect(maps.Values(e.containers))
	e.mu.Unlock()
	live := map[string]bool{}
	for _, c := range cs {
		c.mu.Lock()
		id, name, running, st := c.rec.ID, c.rec.Name, c.rec.State.Status.Running(), c.rec.Net
		c.mu.Unlock()
		if running {
			live[id] = true
		}
		if st == nil {
			continue
		}
		if !running {
			e.releaseNetwork(ctx, c)
			if err := e.setState(c, "", nil); err != nil {
				e.log.Warn("record network release", "container", id, "err", err)
			}
			continue
		}
		live[id] = true
		e.registerNames(id, name, st)
		if len(st.Ports) > 0 {
			if _, err := e.net.Reserve(id, st.Ports); err != nil {
				e.log.Warn("reserve published ports again", "container", id, "err", err)
			}
		}
	}
	e.net.RemoveOrphans(ctx, func(id string) bool { return live[id] })
}

// networkInfo is c's network for Info. Preconditions: c.mu held.
func (e *Engine) networkInfo(r *record) NetworkInfo {
	ni := NetworkInfo{Options: r.Network}
	if r.Net == nil {
		return ni
	}
	ni.SandboxKey = r.Net.Netns
	for _, p := range r.Net.Ports {
		ni.Ports = append(ni.Ports, PortBinding{Proto: p.Protocol, ContainerPort: uint16(p.ContainerPort), HostIP: p.HostIP, HostPort: uint16(p.HostPort)})
	}
	for _, ep := range r.Net.Endpoints {
		info := EndpointInfo{NetworkID: ep.NetworkID, EndpointID: ep.EndpointID, Aliases: ep.Aliases,
			IP: ep.IP, Gateway: ep.Gateway, MAC: ep.MAC}
		if n, err := e.net.Get(ep.NetworkID); err == nil {
			info.Network = n.Name
		}
		ni.Endpoints = append(ni.Endpoints, info)
	}
	return ni
}

// NetworkCreate creates a user network.
func (e *Engine) NetworkCreate(ctx context.Context, o network.CreateOptions) (network.Network, error) {
	n, err := e.net.Create(ctx, o)
	if err != nil {
		return network.Network{}, err
	}
	e.emit(Event{Type: "network", Action: "create", ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}})
	return n, nil
}

// NetworkList lists the networks, the predefined ones first.
func (e *Engine) NetworkList(ctx context.Context) []network.Network { return e.net.List() }

// NetworkInspect returns a network (by name, ID or ID prefix) and the
// running containers on it.
func (e *Engine) NetworkInspect(ctx context.Context, ref string) (network.Network, []NetworkMember, error) {
	n, err := e.net.Get(ref)
	if err != nil {
		return network.Network{}, nil, err
	}
	return n, e.members(n.ID), nil
}

func (e *Engine) members(nid string) []NetworkMember {
	e.mu.Lock()
	cs := slices.Collect(maps.Values(e.containers))
	e.mu.Unlock()
	var out []NetworkMember
	for _, c := range cs {
		c.mu.Lock()
		r := c.rec
		c.mu.Unlock()
		if r.Net == nil {
			continue
		}
		for _, ep := range r.Net.Endpoints {
			if ep.NetworkID == nid {
				out = append(out, NetworkMember{ContainerID: r.ID, Name: r.Name, Endpoint: EndpointInfo{
					NetworkID: nid, EndpointID: ep.EndpointID, Aliases: ep.Aliases, IP: ep.IP, Gateway: ep.Gateway, MAC: ep.MAC}})
			}
		}
	}
	slices.SortFunc(out, func(a, b NetworkMember) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NetworkRemove removes a user network that no running container is on.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	n, err := e.net.Get(ref)
	if err != nil {
		return err
	}
	if ms := e.members(n.ID); len(ms) > 0 && !n.Predefined {
		return errdefs.Conflict(fmt.Sprintf("error while removing network: network %s id %s has active endpoints", n.Name, n.ID))
	}
	if err := e.net.Remove(ctx, n.ID); err != nil {
		return err
	}
	e.emit(Event{Type: "network", Action: "destroy", ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}})
	return nil
}

// rewriteHosts writes a running container's /etc/hosts again after a
// connect or disconnect, with its addresses on the networks it is on now
// (in place: the container sees it at once).
func (e *Engine) rewriteHosts(id string, o NetworkOptions, eps []endpointState) {
	hostname, err := e.hostname(id)
	if err == nil {
		err = os.WriteFile(e.etcFile(id, "hosts"), e.hostsFile(hostname, netBridge, o, eps), 0o644)
	}
	if err != nil {
		e.log.Warn("rewrite /etc/hosts", "container", id, "err", err)
	}
}

// networkAndContainer finds the network and the container a connect or
// disconnect names.
func (e *Engine) networkAndContainer(netRef, ctrRef string) (network.Network, *Container, error) {
	n, err := e.net.Get(netRef)
	if err != nil {
		return network.Network{}, nil, err
	}
	c, err := e.lookup(ctrRef)
	if err != nil {
		return network.Network{}, nil, err
	}
	return n, c, nil
}

// NetworkConnect puts a container on a network: in its options, and at
// once if it runs.
func (e *Engine) NetworkConnect(ctx context.Context, netRef, ctrRef string, o EndpointOptions) error {
	n, c, err := e.networkAndContainer(netRef, ctrRef)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	r := c.rec
	c.mu.Unlock()
	kind, targets, _, err := e.resolveNetworks(r.Network)
	if err != nil {
		return err
	}
	if n.Driver != network.DriverBridge || kind != netBridge {
		return errdefs.Invalid(fmt.Sprintf("container %s cannot be connected to network %s: only bridge networks can be combined", r.Name, n.Name))
	}
	for _, t := range targets {
		if t.net.ID == n.ID {
			return errdefs.Conflict(fmt.Sprintf("endpoint with name %s already exists in network %s", r.Name, n.Name))
		}
	}
	opts := r.Network
	opts.Endpoints = maps.Clone(opts.Endpoints)
	if opts.Endpoints == nil {
		opts.Endpoints = map[string]EndpointOptions{}
	}
	opts.Endpoints[n.Name] = o
	if _, _, _, err := e.resolveNetworks(opts); err != nil {
		return err
	}
	if r.Net != nil && r.State.Status.Running() {
		ifname := fmt.Sprintf("eth%d", len(r.Net.Endpoints))
		for slices.ContainsFunc(r.Net.Endpoints, func(ep endpointState) bool { return ep.IfName == ifname }) {
			ifname += "x"
		}
		a, err := e.net.Attach(ctx, r.ID, r.Net.Netns, ifname, n.ID, o.IPv4, nil)
		if err != nil {
			return err
		}
		epid, err := newID()
		if err != nil {
			return err
		}
		ep := endpointState{Attachment: a, EndpointID: epid, Aliases: o.Aliases}
		e.net.Register(n.ID, r.ID, a.IP.Addr(), append([]string{r.Name, r.ID[:12]}, o.Aliases...))
		c.mu.Lock()
		st := *c.rec.Net
		st.Endpoints = append(slices.Clone(st.Endpoints), ep)
		c.rec.Net = &st
		c.mu.Unlock()
		e.rewriteHosts(r.ID, opts, st.Endpoints)
	}
	if err := e.setState(c, "", func(*State) { c.rec.Network = opts }); err != nil {
		return err
	}
	e.emit(Event{Type: "network", Action: "connect", ID: n.ID, Attributes: map[string]string{"container": r.ID, "name": n.Name, "type": n.Driver}})
	return nil
}

// NetworkDisconnect takes a container off a network.
func (e *Engine) NetworkDisconnect(ctx context.Context, netRef, ctrRef string, force bool) error {
	n, c, err := e.networkAndContainer(netRef, ctrRef)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	r := c.rec
	c.mu.Unlock()
	kind, targets, _, err := e.resolveNetworks(r.Network)
	if err != nil && !force {
		return err
	}
	on := slices.ContainsFunc(targets, func(t netTarget) bool { return t.net.ID == n.ID })
	if !on || kind != netBridge {
		return errdefs.Invalid(fmt.Sprintf("container %s is not connected to network %s", r.Name, n.Name))
	}
	opts := r.Network
	opts.Endpoints = maps.Clone(opts.Endpoints)
	for k := range opts.Endpoints {
		if k == n.Name || k == n.ID || strings.HasPrefix(n.ID, k) {
			delete(opts.Endpoints, k)
		}
	}
	if targets[0].net.ID == n.ID {
		// The primary network goes: the next one, if any, takes its place.
		opts.Mode = network.NoneName
		if len(targets) > 1 {
			opts.Mode = targets[1].net.Name
		}
	}
	if r.Net != nil {
		i := slices.IndexFunc(r.Net.Endpoints, func(ep endpointState) bool { return ep.NetworkID == n.ID })
		if i >= 0 {
			ep := r.Net.Endpoints[i]
			e.net.Unregister(n.ID, r.ID)
			var pm []network.PortMapping
			if i == 0 {
				pm = r.Net.Ports
			}
			if err := e.net.Detach(ctx, r.ID, r.Net.Netns, ep.IfName, n.ID, pm); err != nil && !force {
				return err
			}
			c.mu.Lock()
			st := *c.rec.Net
			st.Endpoints = slices.Delete(slices.Clone(st.Endpoints), i, i+1)
			c.rec.Net = &st
			c.mu.Unlock()
			e.rewriteHosts(r.ID, opts, st.Endpoints)
		}
	}
	if err := e.setState(c, "", func(*State) { c.rec.Network = opts }); err != nil {
		return err
	}
	e.emit(Event{Type: "network", Action: "disconnect", ID: n.ID, Attributes: map[string]string{"container": r.ID, "name": n.Name, "type": n.Driver}})
	return nil
}

// NetworkPrune removes the user networks no running container is on,
// except those keep keeps; it returns their names.
func (e *Engine) NetworkPrune(ctx context.Context, keep func(network.Network) bool) ([]string, error) {
	var out []string
	for _, n := range e.net.List() {
		if n.Predefined || (keep != nil && keep(n)) || len(e.members(n.ID)) > 0 {
			continue
		}
		if err := e.NetworkRemove(ctx, n.ID); err != nil {
			continue
		}
		out = append(out, n.Name)
	}
	return out, nil
}

// publishExposed adds to ps a binding on a free host port for each port
// the image exposes ("80/tcp", "53/udp", "8080") that ps does not publish.
func publishExposed(ps []PortBinding, exposed map[string]struct{}) []PortBinding {
	out := slices.Clone(ps)
	for _, k := range slices.Sorted(maps.Keys(exposed)) {
		port, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
			continue
		}
		if slices.ContainsFunc(out, func(p PortBinding) bool { return p.ContainerPort == uint16(n) && p.Proto == proto }) {
			continue
		}
		out = append(out, PortBinding{Proto: proto, ContainerPort: uint16(n)})
	}
	return out
}
