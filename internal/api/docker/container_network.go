package docker

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
)

// networkName is the network a container's mode puts it on, as inspect
// names it: the default bridge for "" and "default".
func networkName(mode string) string {
	switch mode {
	case "", defaultNetworkModeAlias:
		return network.NetworkBridge
	}
	return mode
}

// containerNetworks is NetworkSettings.Networks from the engine's
// endpoints; a container without any (made before networks, or joined
// to another container's) shows its mode's network with no addresses,
// as dockerd does for a created container.
func containerNetworks(in engine.Info, hc *container.HostConfig) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	for _, ep := range in.Network.Endpoints {
		es := &network.EndpointSettings{
			NetworkID: ep.NetworkID, EndpointID: ep.EndpointID, Gateway: ep.Gateway,
			MacAddress: macAddr(ep.MAC), Aliases: slices.Clone(ep.Aliases),
		}
		if ep.IP.IsValid() {
			es.IPAddress, es.IPPrefixLen = ep.IP.Addr(), ep.IP.Bits()
		}
		if ep.IPv4 != "" {
			if a, err := netip.ParseAddr(ep.IPv4); err == nil {
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
			}
		}
		if ep.Network != network.NetworkBridge && ep.Network != network.NetworkHost && ep.Network != network.NetworkNone {
			// dockerd's DNSNames on a user network: the name, the short
			// ID, the aliases.
			es.DNSNames = append([]string{in.Name, in.ID[:min(12, len(in.ID))]}, ep.Aliases...)
		}
		out[ep.Network] = es
	}
	if len(out) == 0 {
		if !hc.NetworkMode.IsContainer() {
			out[networkName(string(hc.NetworkMode))] = &network.EndpointSettings{}
		}
	}
	return out
}

// containerPorts is NetworkSettings.Ports: while the container runs, its
// exposed ports, each with the host bindings in force (none: null). A
// container that does not run has none, as dockerd shows it.
func containerPorts(in engine.Info, cfg *container.Config, hc *container.HostConfig) network.PortMap {
	out := network.PortMap{}
	if !in.State.Status.Running() && in.State.Status != engine.StatusPaused {
		return out
	}
	if hc.NetworkMode == network.NetworkHost || hc.NetworkMode.IsContainer() {
		return out
	}
	for p := range cfg.ExposedPorts {
		out[p] = nil
	}
	for p := range hc.PortBindings {
		out[p] = nil
	}
	for _, b := range in.Network.Ports {
		p, ok := network.PortFrom(b.ContainerPort, network.IPProtocol(b.Proto))
		if !ok {
			continue
		}
		ip := netip.IPv4Unspecified()
		if a, err := netip.ParseAddr(b.HostIP); err == nil {
			ip = a
		}
		out[p] = append(out[p], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(b.HostPort))})
	}
	return out
}

// portSummaries is a container's Ports in a list: every exposed port,
// with its host binding if it has one.
func portSummaries(pm network.PortMap) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bs := range pm {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			n, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(n), Type: string(p.Proto())})
		}
	}
	slices.SortFunc(out, func(a, b container.PortSummary) int {
		if a.PrivatePort != b.PrivatePort {
			return int(a.PrivatePort) - int(b.PrivatePort)
		}
		if a.Type != b.Type {
			if a.Type < b.Type {
				return -1
			}
			return 1
		}
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return int(a.PublicPort) - int(b.PublicPort)
	})
	return out
}

// legacyNetworkSettings adds the top-level fields of the default bridge's
// endpoint that dockerd returns before API 1.52.
type legacyNetworkSettings struct {
	container.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []any
	SecondaryIPv6Addresses []any
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

// legacyInspectResponse is container inspect before API 1.52: the outer
// NetworkSettings hides the embedded one.
type legacyInspectResponse struct {
	container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

func legacyInspect(resp container.InspectResponse) legacyInspectResponse {
	ns := &legacyNetworkSettings{}
	if resp.NetworkSettings != nil {
		ns.NetworkSettings = *resp.NetworkSettings
		if es := resp.NetworkSettings.Networks[network.NetworkBridge]; es != nil {
			ns.EndpointID = es.EndpointID
			ns.MacAddress = es.MacAddress.String()
			ns.IPPrefixLen = es.IPPrefixLen
			if es.IPAddress.IsValid() {
				ns.IPAddress = es.IPAddress.String()
			}
			if es.Gateway.IsValid() {
				ns.Gateway = es.Gateway.String()
			}
		}
	}
	return legacyInspectResponse{InspectResponse: resp, NetworkSettings: ns}
}
