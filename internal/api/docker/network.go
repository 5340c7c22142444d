package docker

import (
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	capnet "github.com/capsa-dev/capsa/internal/network"
)

// networkJSON is a network in docker's shape (GET /networks and
// /networks/{id}); members fill Containers.
func networkJSON(n capnet.Network, members []engine.NetworkMember) network.Inspect {
	opts := maps.Clone(n.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	if n.Predefined && n.Driver == capnet.DriverBridge {
		// dockerd's default bridge shows its bridge's options.
		opts["com.docker.network.bridge.default_bridge"] = "true"
		if n.Bridge != "" {
			opts["com.docker.network.bridge.name"] = n.Bridge
		}
	}
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	ipam := network.IPAM{Driver: "default", Options: nil, Config: []network.IPAMConfig{}}
	if n.Subnet.IsValid() {
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway})
	}
	out := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
			EnableIPv4: n.Driver == capnet.DriverBridge, IPAM: ipam, Internal: n.Internal,
			Options: opts, Labels: labels,
		},
		Containers: map[string]network.EndpointResource{},
	}
	for _, m := range members {
		out.Containers[m.ContainerID] = network.EndpointResource{
			Name: m.Name, EndpointID: m.Endpoint.EndpointID, MacAddress: macAddr(m.Endpoint.MAC),
			IPv4Address: m.Endpoint.IP,
		}
	}
	return out
}

// macAddr reads a MAC address as the engine writes it ("": none).
func macAddr(s string) network.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return nil
	}
	return network.HardwareAddr(hw)
}

// matchFilter is dockerd's filters.Match: the value is equal, or a
// regular expression that matches.
func matchFilter(vs []string, field string) bool {
	if len(vs) == 0 {
		return true
	}
	return slices.ContainsFunc(vs, func(v string) bool {
		if v == field {
			return true
		}
		ok, err := regexp.MatchString(v, field)
		return err == nil && ok
	})
}

// prefixFilter matches IDs by prefix, as dockerd's network id filter.
func prefixFilter(vs []string, id string) bool {
	if len(vs) == 0 {
		return true
	}
	return slices.ContainsFunc(vs, func(v string) bool { return strings.HasPrefix(id, v) })
}
