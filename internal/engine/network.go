package engine

import (
	"context"
	"net/netip"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/network"
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
	// HostPort is the host's port (0: a free one, chosen at start).
	HostPort uint16 `json:"host_port,omitempty"`
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

// NetworkCreate creates a user network.
func (e *Engine) NetworkCreate(ctx context.Context, o network.CreateOptions) (network.Network, error) {
	return network.Network{}, errdefs.NotImplemented("networks: not yet")
}

// NetworkList lists the networks, the predefined ones first.
func (e *Engine) NetworkList(ctx context.Context) []network.Network { return nil }

// NetworkInspect returns a network (by name, ID or ID prefix) and the
// containers on it.
func (e *Engine) NetworkInspect(ctx context.Context, ref string) (network.Network, []NetworkMember, error) {
	return network.Network{}, nil, errdefs.NotFound("network " + ref + " not found")
}

// NetworkRemove removes a user network that no container is on.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	return errdefs.NotFound("network " + ref + " not found")
}

// NetworkConnect puts a container on a network (at once if it runs).
func (e *Engine) NetworkConnect(ctx context.Context, netRef, ctrRef string, o EndpointOptions) error {
	return errdefs.NotImplemented("networks: not yet")
}

// NetworkDisconnect takes a container off a network.
func (e *Engine) NetworkDisconnect(ctx context.Context, netRef, ctrRef string, force bool) error {
	return errdefs.NotImplemented("networks: not yet")
}

// NetworkPrune removes the user networks no container is on, except those
// keep keeps; it returns their names.
func (e *Engine) NetworkPrune(ctx context.Context, keep func(network.Network) bool) ([]string, error) {
	return nil, nil
}
