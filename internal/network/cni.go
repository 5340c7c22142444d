package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// PluginDirs are where the CNI plugins are looked for: Debian's
// containernetworking-plugins, then the upstream default.
var PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// PortMapping publishes a container's port on the host, in the portmap
// plugin's runtimeConfig shape.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
	// HostPortEnd: HostPort is the first of a range, any free port of
	// which will do (reserve chooses; never given to the plugin).
	HostPortEnd int `json:"-"`
}

// Attachment is a container's interface on a network.
type Attachment struct {
	NetworkID string       `json:"network_id"`
	IfName    string       `json:"ifname"`
	IP        netip.Prefix `json:"ip"`
	Gateway   netip.Addr   `json:"gateway,omitzero"`
	MAC       string       `json:"mac,omitempty"`
}

// cniName is the network's name in CNI (its IPAM directory, its result
// cache): by ID, so that a network removed and made again under the same
// name starts clean.
func cniName(n Network) string { return "capsa-" + n.ID[:12] }

// confList is n's CNI network list: the bridge plugin with host-local
// IPAM, and portmap when ports are published.
func (m *Manager) confList(n Network, withPorts bool) (*libcni.NetworkConfigList, error) {
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]string{{{"subnet": n.Subnet.String(), "gateway": n.Gateway.String()}}},
		"dataDir": m.ipamDir(),
	}
	if !n.Internal {
		ipam["routes"] = []map[string]string{{"dst": "0.0.0.0/0"}}
	}
	plugins := []map[string]any{{
		"type":      "bridge",
		"bridge":    n.Bridge,
		"isGateway": true,
		// Masquerade is capsa's, one rule per network (firewall_linux.go):
		// the plugin's is a chain per container, made and torn down with
		// iptables at every start and exit.
		"ipMasq":       false,
		"hairpinMode":  true,
		"capabilities": map[string]bool{"ips": true},
		"ipam":         ipam,
	}}
	if withPorts {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}})
	}
	data, err := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": cniName(n), "plugins": plugins})
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(data)
}

func (m *Manager) ipamDir() string  { return filepath.Join(m.cfg.RunDir, "ipam") }
func (m *Manager) cacheDir() string { return filepath.Join(m.cfg.RunDir, "cache") }

func runtimeConf(containerID, netns, ifname, ipv4 string, n Network, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: ifname, CapabilityArgs: map[string]any{}}
	if ipv4 != "" {
		rt.CapabilityArgs["ips"] = []string{fmt.Sprintf("%s/%d", ipv4, n.Subnet.Bits())}
	}
	if len(ports) > 0 {
		rt.CapabilityArgs["portMappings"] = ports
	}
	return rt
}

// attach runs the network's plugins (CNI ADD) for the container's
// interface ifname in the namespace at netns.
func (m *Manager) attach(ctx context.Context, containerID, netns, ifname string, n Network, ipv4 string, ports []PortMapping) (Attachment, error) {
	list, err := m.confList(n, len(ports) > 0)
	if err != nil {
		return Attachment{}, err
	}
	res, err := m.cni.AddNetworkList(ctx, list, runtimeConf(containerID, netns, ifname, ipv4, n, ports))
	if err != nil {
		return Attachment{}, cniError(n, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("network %s: plugin result: %w", n.Name, err)
	}
	a := Attachment{NetworkID: n.ID, IfName: ifname}
	for _, ip := range r.IPs {
		p, ok := prefixOf(ip.Address.IP, ip.Address.Mask)
		addr, ok2 := netip.AddrFromSlice(ip.Address.IP)
		if !ok || !ok2 || !addr.Unmap().Is4() {
			continue
		}
		a.IP = netip.PrefixFrom(addr.Unmap(), p.Bits())
		if gw, ok := netip.AddrFromSlice(ip.Gateway); ok {
			a.Gateway = gw.Unmap()
		}
		break
	}
	for _, itf := range r.Interfaces {
		if itf.Name == ifname && itf.Sandbox != "" {
			a.MAC = itf.Mac
		}
	}
	if !a.IP.IsValid() {
		return a, fmt.Errorf("network %s: the plugins gave no IPv4 address", n.Name)
	}
	return a, nil
}

// detach runs CNI DEL; the plugins release the address, the veth and the
// port rules. netns may be gone already ("": then only the host's side
// is cleaned).
func (m *Manager) detach(ctx context.Context, containerID, netns, ifname string, n Network, ports []PortMapping) error {
	list, err := m.confList(n, len(ports) > 0)
	if err != nil {
		return err
	}
	if netns != "" {
		if _, err := os.Stat(netns); err != nil {
			netns = ""
		}
	}
	if err := m.cni.DelNetworkList(ctx, list, runtimeConf(containerID, netns, ifname, "", n, ports)); err != nil {
		return cniError(n, err)
	}
	return nil
}

// cniError words a plugin's error: host-local's "requested IP address
// ... is not available" is docker's "Address already in use".
func cniError(n Network, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "is not available in range set") || strings.Contains(msg, "has been allocated to") {
		return fmt.Errorf("network %s: Address already in use (%s)", n.Name, msg)
	}
	return fmt.Errorf("network %s: %w", n.Name, err)
}
