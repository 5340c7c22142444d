package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Config configures a Manager.
type Config struct {
	// DataDir keeps the networks' records.
	DataDir string
	// RunDir keeps what lives only while containers run and goes with a
	// reboot, as they do: network namespaces (netns/), host-local's
	// leases (ipam/) and the CNI result cache (cache/).
	RunDir string
	// PluginDirs: where the CNI plugins are (nil: PluginDirs).
	PluginDirs []string
	// DefaultBridge and DefaultSubnet are the default network's
	// (dockerd's "bridge" and "bip"); zero: capsa0 and DefaultSubnet.
	DefaultBridge string
	DefaultSubnet netip.Prefix
	// Pools give subnets to networks created without one (nil:
	// DefaultPool).
	Pools []AddressPool
	// ResolvConf is the host's resolv.conf (nil: /etc/resolv.conf).
	ResolvConf []byte
	Log        *slog.Logger
}

// Manager keeps the networks and gives containers their part of them.
type Manager struct {
	cfg   Config
	cni   *libcni.CNIConfig
	fw    *firewall
	store store
	host  ResolvConf
	log   *slog.Logger

	// mu guards the fields below.
	mu   sync.Mutex
	nets map[string]Network // by ID
	dns  map[string]*dnsNet // by network ID: bridge networks' responders
	// names is what the responders answer (its own lock).
	names *nameTable
	// ports are the published ports' reservations, by container ID.
	ports map[string][]reservation
}

// Open loads the networks, makes the predefined ones the first time, and
// puts every bridge network's bridge, rules and DNS responder in place.
func Open(ctx context.Context, cfg Config) (_ *Manager, retErr error) {
	if cfg.PluginDirs == nil {
		cfg.PluginDirs = PluginDirs
	}
	if cfg.DefaultBridge == "" {
		cfg.DefaultBridge = "capsa0"
	}
	if !cfg.DefaultSubnet.IsValid() {
		cfg.DefaultSubnet = DefaultSubnet
	}
	if len(cfg.Pools) == 0 {
		cfg.Pools = []AddressPool{DefaultPool}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ResolvConf == nil {
		cfg.ResolvConf, _ = os.ReadFile("/etc/resolv.conf")
	}
	for _, d := range []string{filepath.Join(cfg.RunDir, "netns"), filepath.Join(cfg.RunDir, "ipam"), filepath.Join(cfg.RunDir, "cache"), cfg.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("networks: %w", err)
		}
	}
	fw, err := newFirewall()
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	m := &Manager{
		cfg: cfg, fw: fw, store: store{dir: cfg.DataDir}, log: cfg.Log,
		host: ParseResolvConf(cfg.ResolvConf),
		nets: map[string]Network{}, dns: map[string]*dnsNet{}, ports: map[string][]reservation{},
		names: &nameTable{},
	}
	// An exec of our own: given none, libcni makes one lazily on every
	// call, a data race between containers starting at once.
	m.cni = libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, m.cacheDir(), &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: os.Stderr},
		PluginDecoder: version.PluginDecoder{},
	})
	nets, err := m.store.load()
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	for _, n := range nets {
		m.nets[n.ID] = n
	}
	if err := m.ensurePredefined(); err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	defer func() {
		if retErr != nil {
			m.Close()
		}
	}()
	for _, n := range m.nets {
		if n.Driver != DriverBridge {
			continue
		}
		if err := m.bringUp(ctx, n); err != nil {
			return nil, fmt.Errorf("networks: %w", err)
		}
	}
	return m, nil
}

// ensurePredefined makes bridge, host and none if they are not there, and
// keeps the default network on the configured bridge and subnet.
func (m *Manager) ensurePredefined() error {
	have := map[string]Network{}
	for _, n := range m.nets {
		if n.Predefined {
			have[n.Name] = n
		}
	}
	for _, want := range []Network{
		{Name: DefaultName, Driver: DriverBridge, Subnet: m.cfg.DefaultSubnet, Gateway: m.cfg.DefaultSubnet.Addr().Next(), Bridge: m.cfg.DefaultBridge},
		{Name: HostName, Driver: DriverHost},
		{Name: NoneName, Driver: DriverNull},
	} {
		n, ok := have[want.Name]
		if ok && n.Subnet == want.Subnet && n.Bridge == want.Bridge {
			continue
		}
		if !ok {
			id, err := newID()
			if err != nil {
				return err
			}
			n = Network{ID: id, Created: time.Now().UTC(), Predefined: true,
				Options: map[string]string{}}
			if want.Driver == DriverBridge {
				n.Options = map[string]string{"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.name": want.Bridge}
			}
		}
		n.Name, n.Driver, n.Subnet, n.Gateway, n.Bridge = want.Name, want.Driver, want.Subnet, want.Gateway, want.Bridge
		if err := m.store.save(n); err != nil {
			return err
		}
		m.nets[n.ID] = n
	}
	return nil
}

// bringUp puts n's bridge, firewall rules and DNS responder in place.
func (m *Manager) bringUp(ctx context.Context, n Network) error {
	if err := ensureBridge(n); err != nil {
		return err
	}
	if err := m.fw.add(n); err != nil {
		return err
	}
	d, err := m.startDNS(ctx, n)
	if err != nil {
		// A port 53 taken on the gateway (a resolver of the host's
		// listening on every address) costs the names, not the network.
		m.log.Warn("network's DNS responder", "network", n.Name, "err", err)
		return nil
	}
	m.mu.Lock()
	m.dns[n.ID] = d
	m.mu.Unlock()
	return nil
}

// Close stops the DNS responders and lets the published ports'
// reservations go; containers keep their networks.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, d := range m.dns {
		d.close()
		delete(m.dns, id)
	}
	for id, rs := range m.ports {
		for _, r := range rs {
			r.release()
		}
		delete(m.ports, id)
	}
}

// List returns the networks, the predefined ones first.
func (m *Manager) List() []Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Collect(maps.Values(m.nets))
	sortNetworks(out)
	return out
}

// Get returns the network ref names (name, ID or unique ID prefix).
func (m *Manager) Get(ref string) (Network, error) {
	return find(m.List(), ref)
}

// Create makes a bridge network: its subnet (given, or the first free
// one of the pools), its bridge, rules and DNS responder.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (_ Network, retErr error) {
	if o.Name == "" {
		return Network{}, errdefs.Invalid("network name is required: capsa network create NAME")
	}
	if !validName.MatchString(o.Name) {
		return Network{}, errdefs.Invalid(fmt.Sprintf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name))
	}
	switch o.Driver {
	case "", DriverBridge:
	case DriverHost, DriverNull:
		return Network{}, errdefs.Permission(fmt.Sprintf("only one instance of %q network is allowed", o.Driver))
	default:
		return Network{}, errdefs.NotFound(fmt.Sprintf("plugin %q not found: capsa has the bridge driver only", o.Driver))
	}
	if o.Gateway != "" && o.Subnet == "" {
		return Network{}, errdefs.Invalid("--gateway needs --subnet")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var taken []netip.Prefix
	for _, n := range m.nets {
		if n.Name == o.Name {
			return Network{}, errdefs.Conflict(fmt.Sprintf("network with name %s already exists", o.Name))
		}
		if n.Subnet.IsValid() {
			taken = append(taken, n.Subnet)
		}
	}
	id, err := newID()
	if err != nil {
		return Network{}, err
	}
	n := Network{ID: id, Name: o.Name, Driver: DriverBridge, Internal: o.Internal, Labels: o.Labels,
		Options: o.Options, Created: time.Now().UTC(), Bridge: "cbr-" + id[:11]}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if b := n.Options["com.docker.network.bridge.name"]; b != "" {
		if len(b) > 15 || b == "." || b == ".." || strings.ContainsFunc(b, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }) {
			return Network{}, errdefs.Invalid(fmt.Sprintf("invalid bridge name %q: at most 15 characters, no '/', ':' or spaces", b))
		}
		n.Bridge = b
	}
	if o.Subnet != "" {
		if n.Subnet, n.Gateway, err = parseSubnet(o.Subnet, o.Gateway); err != nil {
			return Network{}, err
		}
		for _, t := range taken {
			if t.Overlaps(n.Subnet) {
				return Network{}, errdefs.Conflict(fmt.Sprintf("invalid pool request: Pool overlaps with other one on this address space (%s overlaps %s)", n.Subnet, t))
			}
		}
	} else {
		var last error
		for _, pool := range m.cfg.Pools {
			if n.Subnet, last = allocate(pool, taken); last == nil {
				break
			}
		}
		if last != nil {
			return Network{}, last
		}
		n.Gateway = n.Subnet.Addr().Next()
	}
	for _, other := range m.nets {
		if other.Bridge != "" && other.Bridge == n.Bridge {
			return Network{}, errdefs.Conflict(fmt.Sprintf("bridge %s is already network %s's", n.Bridge, other.Name))
		}
	}
	// A new network's bridge is new: an interface of that name is some
	// other program's (docker0, cni-podman0, ...), and removing the
	// network would delete it.
	if linkExists(n.Bridge) {
		return Network{}, errdefs.Conflict(fmt.Sprintf("network %s: interface %s already exists on the host: choose another bridge name (com.docker.network.bridge.name)", n.Name, n.Bridge))
	}
	defer func() {
		if retErr != nil {
			m.teardownHost(n)
		}
	}()
	if err := ensureBridge(n); err != nil {
		return Network{}, err
	}
	if err := m.fw.add(n); err != nil {
		return Network{}, err
	}
	if err := m.store.save(n); err != nil {
		return Network{}, err
	}
	m.nets[n.ID] = n
	if d, err := m.startDNS(ctx, n); err != nil {
		m.log.Warn("network's DNS responder", "network", n.Name, "err", err)
	} else {
		m.dns[n.ID] = d
	}
	return n, nil
}

// teardownHost removes n's host state: bridge, rules, leases.
// Preconditions: m.mu held.
func (m *Manager) teardownHost(n Network) {
	if d := m.dns[n.ID]; d != nil {
		d.close()
		delete(m.dns, n.ID)
	}
	if err := m.fw.remove(n.Bridge); err != nil {
		m.log.Warn("remove network's rules", "network", n.Name, "err", err)
	}
	if err := deleteBridge(n.Bridge); err != nil {
		m.log.Warn("remove network's bridge", "network", n.Name, "err", err)
	}
	_ = os.RemoveAll(filepath.Join(m.ipamDir(), cniName(n)))
}

// Remove removes a user network; the caller has checked that no
// container is on it.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	n, err := m.Get(ref)
	if err != nil {
		return err
	}
	if n.Predefined {
		return errdefs.Permission(fmt.Sprintf("%s is a pre-defined network and cannot be removed", n.Name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.store.remove(n.ID); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	delete(m.nets, n.ID)
	m.teardownHost(n)
	return nil
}

// Attach gives the container an interface ifname on network id in the
// namespace at netns (ports: published through this network; ipv4: the
// address to take, checked against the subnet by the caller).
func (m *Manager) Attach(ctx context.Context, containerID, netns, ifname, id, ipv4 string, ports []PortMapping) (Attachment, error) {
	n, err := m.Get(id)
	if err != nil {
		return Attachment{}, err
	}
	if n.Driver != DriverBridge {
		return Attachment{}, errdefs.Invalid(fmt.Sprintf("network %s: a container cannot join it besides other networks", n.Name))
	}
	return m.attach(ctx, containerID, netns, ifname, n, ipv4, ports)
}

// Detach undoes Attach. A network that is gone is no error.
func (m *Manager) Detach(ctx context.Context, containerID, netns, ifname, id string, ports []PortMapping) error {
	n, err := m.Get(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return m.detach(ctx, containerID, netns, ifname, n, ports)
}

// Reserve binds the host ports of ports for container id (choosing the
// ones that are 0) and returns them as bound.
func (m *Manager) Reserve(id string, ports []PortMapping) ([]PortMapping, error) {
	out := slices.Clone(ports)
	var rs []reservation
	for i := range out {
		r, err := reserve(&out[i])
		if err != nil {
			for _, r := range rs {
				r.release()
			}
			return nil, err
		}
		rs = append(rs, r)
	}
	m.mu.Lock()
	m.ports[id] = append(m.ports[id], rs...)
	m.mu.Unlock()
	return out, nil
}

// Release lets container id's ports go.
func (m *Manager) Release(id string) {
	m.mu.Lock()
	rs := m.ports[id]
	delete(m.ports, id)
	m.mu.Unlock()
	for _, r := range rs {
		r.release()
	}
}

// DNSServer is the address of network id's DNS responder, if it has one
// that answers for container names (user networks).
func (m *Manager) DNSServer(id string) (netip.Addr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dns[id]
	if d == nil || !d.names {
		return netip.Addr{}, false
	}
	return d.addr, true
}

// HostResolvConf is the host's resolv.conf as a container off the host's
// namespace can use it (no loopback nameservers), or the default
// network's responder when nothing else is left.
func (m *Manager) HostResolvConf() ResolvConf {
	rc := m.host.WithoutLoopback()
	if len(rc.Nameservers) == 0 {
		for _, n := range m.List() {
			if n.Predefined && n.Driver == DriverBridge {
				rc.Nameservers = []string{n.Gateway.String()}
			}
		}
	}
	return rc
}

// Register gives container id's names and ip on network nid's DNS.
func (m *Manager) Register(nid, id string, ip netip.Addr, names []string) {
	m.names.register(nid, id, ip, names)
}

// Unregister takes container id off network nid's DNS.
func (m *Manager) Unregister(nid, id string) {
	m.names.unregister(nid, id)
}

// NetnsPath is where container id's network namespace is kept.
func (m *Manager) NetnsPath(id string) string { return filepath.Join(m.cfg.RunDir, "netns", id) }

// RemoveOrphans removes what a container that is not live left of its
// networks (after a crash): namespaces, leases and the plugins' rules.
func (m *Manager) RemoveOrphans(ctx context.Context, live func(containerID string) bool) {
	ents, _ := os.ReadDir(filepath.Join(m.cfg.RunDir, "netns"))
	for _, ent := range ents {
		if !live(ent.Name()) {
			m.log.Info("removing an orphan network namespace", "container", ent.Name())
			if err := RemoveNetns(m.NetnsPath(ent.Name())); err != nil {
				m.log.Warn("orphan network namespace", "err", err)
			}
		}
	}
	// The CNI cache knows every attachment still in force: a DEL for
	// each that is not live releases its lease, veth and rules.
	results, _ := os.ReadDir(filepath.Join(m.cacheDir(), "results"))
	for _, ent := range results {
		var c struct {
			ContainerID string `json:"containerId"`
			IfName      string `json:"ifName"`
			NetworkName string `json:"networkName"`
			Config      []byte `json:"config"`
		}
		data, err := os.ReadFile(filepath.Join(m.cacheDir(), "results", ent.Name()))
		if err != nil || json.Unmarshal(data, &c) != nil || c.ContainerID == "" || live(c.ContainerID) {
			continue
		}
		m.log.Info("removing an orphan network attachment", "container", c.ContainerID, "network", c.NetworkName)
		if list, err := libcni.ConfListFromBytes(c.Config); err == nil {
			rt := &libcni.RuntimeConf{ContainerID: c.ContainerID, IfName: c.IfName}
			if _, cached, err := m.cni.GetNetworkListCachedConfig(list, rt); err == nil && cached != nil {
				rt = cached
				rt.NetNS = ""
			}
			if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
				m.log.Warn("orphan network attachment", "container", c.ContainerID, "err", err)
			}
		}
		_ = os.Remove(filepath.Join(m.cacheDir(), "results", ent.Name()))
	}
	// Leases without a cache entry (a crash between the two writes).
	dirs, _ := os.ReadDir(m.ipamDir())
	for _, d := range dirs {
		leases, _ := os.ReadDir(filepath.Join(m.ipamDir(), d.Name()))
		for _, l := range leases {
			if _, err := netip.ParseAddr(l.Name()); err != nil {
				continue // last_reserved_ip, lock
			}
			p := filepath.Join(m.ipamDir(), d.Name(), l.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			owner, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
			owner = strings.TrimSpace(owner)
			if owner != "" && !live(owner) {
				m.log.Info("removing an orphan address lease", "container", owner, "ip", l.Name())
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					m.log.Warn("orphan lease", "err", err)
				}
			}
		}
	}
}

// Leases lists the addresses leased on network id (for tests and
// diagnostics).
func (m *Manager) Leases(id string) []string {
	n, err := m.Get(id)
	if err != nil {
		return nil
	}
	return LeasesIn(m.cfg.RunDir, n)
}

// LeasesIn lists n's leases under a run dir.
func LeasesIn(runDir string, n Network) []string {
	ents, _ := os.ReadDir(filepath.Join(runDir, "ipam", cniName(n)))
	var out []string
	for _, e := range ents {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// Bridges lists the bridges of the networks recorded under dataDir.
func Bridges(dataDir string) []string {
	nets, _ := store{dir: dataDir}.load()
	var out []string
	for _, n := range nets {
		if n.Bridge != "" {
			out = append(out, n.Bridge)
		}
	}
	return out
}

// RemoveHostState removes the bridges and rules of every network recorded
// under dataDir (for tests, after their capsad stopped: a real capsad
// keeps its networks, as dockerd keeps docker0).
func RemoveHostState(dataDir string) error {
	nets, err := store{dir: dataDir}.load()
	if err != nil {
		return err
	}
	fw, err := newFirewall()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nets {
		if n.Bridge == "" {
			continue
		}
		errs = append(errs, fw.remove(n.Bridge), deleteBridge(n.Bridge))
	}
	return errors.Join(errs...)
}
