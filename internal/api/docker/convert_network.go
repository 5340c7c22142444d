package docker

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Docker's words for the networking options that exclude each other
// (dockerd's runconfig errors).
const (
	errConflictHostname     = "conflicting options: hostname and the network mode"
	errConflictDNS          = "conflicting options: dns and the network mode"
	errConflictHosts        = "conflicting options: custom host-to-IP mapping and the network mode"
	errConflictPublish      = "conflicting options: port publishing and the container type network mode"
	errConflictExpose       = "conflicting options: port exposing and the container type network mode"
	errAliasOnDefault       = "network-scoped alias is supported only for containers in user defined networks"
	errIPOnDefault          = "user specified IP address is supported on user defined networks only"
	warnHostNetworkPublish  = "Published ports are discarded when using host network mode"
	hostGateway             = "host-gateway"
	defaultNetworkModeAlias = "default"
)

// networkOptions translates the networking of a create request: the
// network mode, the endpoints of NetworkingConfig, published ports, DNS
// and /etc/hosts entries. It returns dockerd's warnings.
func networkOptions(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (engine.NetworkOptions, []string, error) {
	var o engine.NetworkOptions
	var warnings []string
	mode := string(hc.NetworkMode)
	switch {
	case mode == "" || mode == defaultNetworkModeAlias:
		mode = ""
	case strings.HasPrefix(mode, "container:"):
		if strings.TrimPrefix(mode, "container:") == "" {
			return o, nil, errdefs.Invalid("invalid network mode: invalid container format container:<name|id>")
		}
		switch {
		case cfg.Hostname != "":
			return o, nil, errdefs.Invalid(errConflictHostname)
		case len(hc.DNS) > 0:
			return o, nil, errdefs.Invalid(errConflictDNS)
		case len(hc.ExtraHosts) > 0:
			return o, nil, errdefs.Invalid(errConflictHosts)
		case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
			return o, nil, errdefs.Invalid(errConflictPublish)
		case len(cfg.ExposedPorts) > 0:
			return o, nil, errdefs.Invalid(errConflictExpose)
		}
	}
	o.Mode = mode

	for _, d := range hc.DNS {
		if !d.IsValid() {
			return o, nil, errdefs.Invalid("IP address is not correctly formatted: " + d.String())
		}
		o.DNS = append(o.DNS, d.String())
	}
	o.DNSSearch = hc.DNSSearch
	o.DNSOptions = hc.DNSOptions
	for _, h := range hc.ExtraHosts {
		line, err := extraHost(h)
		if err != nil {
			return o, nil, err
		}
		o.ExtraHosts = append(o.ExtraHosts, line)
	}

	if nc != nil {
		for name, es := range nc.EndpointsConfig {
			if es == nil {
				es = &network.EndpointSettings{}
			}
			if name == defaultNetworkModeAlias {
				name = mode
			}
			if name == "" {
				name = "bridge"
			}
			ep := engine.EndpointOptions{Aliases: es.Aliases}
			if c := es.IPAMConfig; c != nil && c.IPv4Address.IsValid() {
				if !c.IPv4Address.Is4() {
					return o, nil, errdefs.Invalid(fmt.Sprintf("invalid IPv4 address: %s", c.IPv4Address))
				}
				ep.IPv4 = c.IPv4Address.String()
			}
			if c := es.IPAMConfig; c != nil && c.IPv6Address.IsValid() {
				return o, nil, errdefs.NotImplemented("IPv6 addresses are not supported: capsa's networks are IPv4")
			}
			if name == "bridge" || name == network.NetworkHost || name == network.NetworkNone {
				if len(ep.Aliases) > 0 {
					return o, nil, errdefs.Invalid(errAliasOnDefault)
				}
				if ep.IPv4 != "" {
					return o, nil, errdefs.Invalid(errIPOnDefault)
				}
			}
			if len(ep.Aliases) == 0 && ep.IPv4 == "" && (name == mode || name == "bridge" && mode == "") {
				continue // nothing to say about the mode's own network
			}
			if o.Endpoints == nil {
				o.Endpoints = map[string]engine.EndpointOptions{}
			}
			o.Endpoints[name] = ep
		}
	}

	ports, err := portBindings(cfg, hc)
	if err != nil {
		return o, nil, err
	}
	if mode == network.NetworkHost && len(ports) > 0 {
		// dockerd keeps the bindings in HostConfig but publishes nothing.
		warnings = append(warnings, warnHostNetworkPublish)
		ports = nil
	}
	o.Ports = ports
	// The engine adds the image's exposed ports for -P; those of the
	// request are in ports already.
	o.PublishAll = hc.PublishAllPorts && mode != network.NetworkHost
	return o, warnings, nil
}

// extraHost reads an --add-host "name:ip" (or "name=ip") into the
// engine's "name:ip"; the ip may be "host-gateway" or an IPv6 address,
// in brackets or not.
func extraHost(h string) (string, error) {
	name, ip, ok := strings.Cut(h, "=")
	if !ok {
		name, ip, ok = strings.Cut(h, ":")
	}
	if !ok || name == "" {
		return "", errdefs.Invalid(fmt.Sprintf("invalid extra host: bad format for add-host: %q", h))
	}
	if ip != hostGateway {
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", errdefs.Invalid(fmt.Sprintf("invalid IP address in add-host: %q", ip))
		}
	}
	return name + ":" + ip, nil
}

// portBindings reads HostConfig.PortBindings, and with PublishAllPorts
// the exposed ports not bound there (on any free host port), in a stable
// order. A host port range ("8000-8010", as the docker CLI sends for a
// single container port) binds its first free port.
func portBindings(cfg *container.Config, hc *container.HostConfig) ([]engine.PortBinding, error) {
	var out []engine.PortBinding
	keys := make([]network.Port, 0, len(hc.PortBindings))
	for p := range hc.PortBindings {
		keys = append(keys, p)
	}
	sortPorts(keys)
	for _, p := range keys {
		proto, err := portProto(p)
		if err != nil {
			return nil, err
		}
		bs := hc.PortBindings[p]
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			hp, end, err := hostPort(b.HostPort)
			if err != nil {
				return nil, err
			}
			pb := engine.PortBinding{Proto: proto, ContainerPort: p.Num(), HostPort: hp, HostPortEnd: end}
			if b.HostIP.IsValid() {
				if !b.HostIP.Is4() && !b.HostIP.Unmap().Is4() {
					if b.HostIP.IsUnspecified() {
						continue // "::": the IPv4 binding of the same port covers it
					}
					return nil, errdefs.NotImplemented(fmt.Sprintf("publishing on IPv6 address %s is not supported: capsa publishes on IPv4", b.HostIP))
				}
				pb.HostIP = b.HostIP.Unmap().String()
			}
			out = append(out, pb)
		}
	}
	if hc.PublishAllPorts {
		exposed := make([]network.Port, 0, len(cfg.ExposedPorts))
		for p := range cfg.ExposedPorts {
			if _, bound := hc.PortBindings[p]; !bound {
				exposed = append(exposed, p)
			}
		}
		sortPorts(exposed)
		for _, p := range exposed {
			proto, err := portProto(p)
			if err != nil {
				return nil, err
			}
			out = append(out, engine.PortBinding{Proto: proto, ContainerPort: p.Num()})
		}
	}
	return out, nil
}

func sortPorts(ps []network.Port) {
	slices.SortFunc(ps, func(a, b network.Port) int {
		if a.Num() != b.Num() {
			return int(a.Num()) - int(b.Num())
		}
		return strings.Compare(string(a.Proto()), string(b.Proto()))
	})
}

// portProto checks a container port of a request: a number and tcp or
// udp.
func portProto(p network.Port) (string, error) {
	if !p.IsValid() || p.Num() == 0 {
		return "", errdefs.Invalid(fmt.Sprintf("invalid port specification: %q", p.Port()))
	}
	switch proto := p.Proto(); proto {
	case network.TCP, network.UDP:
		return string(proto), nil
	case network.SCTP:
		return "", errdefs.NotImplemented(fmt.Sprintf("publishing %s: sctp is not supported: capsa publishes tcp and udp", p))
	default:
		return "", errdefs.Invalid(fmt.Sprintf("invalid proto: %s", proto))
	}
}

// hostPort reads a binding's HostPort: "" (any), a number, or a range
// any free port of which will do (end then set).
func hostPort(s string) (port, end uint16, _ error) {
	if s == "" {
		return 0, 0, nil
	}
	bad := errdefs.Invalid(fmt.Sprintf("invalid port specification: %q", s))
	first, last, isRange := strings.Cut(s, "-")
	n, err := strconv.ParseUint(first, 10, 16)
	if err != nil {
		return 0, 0, bad
	}
	if isRange {
		m, err := strconv.ParseUint(last, 10, 16)
		if err != nil || m < n || n == 0 {
			return 0, 0, bad
		}
		if m > n {
			return uint16(n), uint16(m), nil
		}
	}
	return uint16(n), 0, nil
}

// volumesFrom checks --volumes-from values: "<container>[:ro|:rw]".
func volumesFrom(list []string) ([]string, error) {
	for _, v := range list {
		name, mode, hasMode := strings.Cut(v, ":")
		if name == "" {
			return nil, errdefs.Invalid(fmt.Sprintf("invalid volumes-from specification: %q", v))
		}
		if hasMode && mode != "ro" && mode != "rw" {
			return nil, errdefs.Invalid(fmt.Sprintf("invalid mode for volumes-from: %s", mode))
		}
	}
	return list, nil
}
