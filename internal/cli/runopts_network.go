package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
)

// validatedList is a repeatable flag whose every value is checked when
// it is given, as docker's ListOpts with a validator: a bad value is a
// flag error ("invalid argument ... for ... flag: ...").
type validatedList struct {
	v        *[]string
	validate func(string) (string, error)
}

func (l *validatedList) String() string { return "[]" }
func (l *validatedList) Type() string   { return "list" }
func (l *validatedList) Set(s string) error {
	if l.validate != nil {
		v, err := l.validate(s)
		if err != nil {
			return err
		}
		s = v
	}
	*l.v = append(*l.v, s)
	return nil
}

// validateIPAddress is docker's check of a --dns value.
func validateIPAddress(v string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil {
		return "", fmt.Errorf("IP address is not correctly formatted: %s", v)
	}
	return a.String(), nil
}

// validateExtraHost is docker's check of an --add-host value:
// "name:ip" or "name=ip", ip an address or "host-gateway".
func validateExtraHost(v string) (string, error) {
	k, ip, ok := strings.Cut(v, "=")
	if !ok {
		k, ip, ok = strings.Cut(v, ":")
	}
	if !ok || k == "" {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return v, nil
}

// portMapping is one container port of a -p spec and its host binding.
type portMapping struct {
	port    network.Port
	binding network.PortBinding
}

// parsePortSpec reads one -p value as docker does:
// [ip:][hostPort:]containerPort[/proto], where the ports may be ranges
// ("8000-8001:80-81"); an IPv6 ip is written in brackets. A host range
// with a single container port is a range to choose the host port from.
func parsePortSpec(raw string) ([]portMapping, error) {
	var ip, hostPort, containerPort string
	parts := strings.Split(raw, ":")
	switch n := len(parts); n {
	case 1:
		containerPort = parts[0]
	case 2:
		hostPort, containerPort = parts[0], parts[1]
	default:
		ip, hostPort, containerPort = strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
	containerPort, proto, _ := strings.Cut(containerPort, "/")
	if containerPort == "" {
		return nil, fmt.Errorf("no port specified: %s<empty>", raw)
	}
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, errors.New("invalid proto: " + proto)
	}
	var hostIP netip.Addr
	if ip != "" {
		if ip[0] == '[' {
			h, _, err := net.SplitHostPort(ip + ":")
			if err != nil {
				return nil, fmt.Errorf("invalid IP address %v: %w", ip, err)
			}
			ip = h
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, errors.New("invalid IP address: " + ip)
		}
		hostIP = a
	}
	start, end, err := parsePortRange(containerPort)
	if err != nil {
		return nil, errors.New("invalid containerPort: " + containerPort)
	}
	var hostStart, hostEnd int
	if hostPort != "" {
		hostStart, hostEnd, err = parsePortRange(hostPort)
		if err != nil {
			return nil, errors.New("invalid hostPort: " + hostPort)
		}
		if end-start != hostEnd-hostStart && end != start {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", containerPort, hostPort)
		}
	}
	count := end - start + 1
	out := make([]portMapping, 0, count)
	for i := range count {
		hp := ""
		if hostPort != "" {
			hp = strconv.Itoa(hostStart + i)
			if count == 1 && hostStart != hostEnd {
				hp += "-" + strconv.Itoa(hostEnd)
			}
		}
		p, _ := network.PortFrom(uint16(start+i), network.IPProtocol(proto))
		out = append(out, portMapping{port: p, binding: network.PortBinding{HostIP: hostIP, HostPort: hp}})
	}
	return out, nil
}

// parsePortRange reads "80" or "8000-8010".
func parsePortRange(s string) (start, end int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	start, err = parsePortNumber(a)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return start, start, nil
	}
	end, err = parsePortNumber(b)
	if err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, fmt.Errorf("invalid range specified for port: %s", s)
	}
	return start, end, nil
}

func parsePortNumber(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port number: %s", s)
	}
	return int(n), nil
}

// parsePortSpecs reads the -p values into the exposed ports and the
// bindings of a create request.
func parsePortSpecs(specs []string) (network.PortSet, network.PortMap, error) {
	exposed, bindings := network.PortSet{}, network.PortMap{}
	for _, raw := range specs {
		ms, err := parsePortSpec(raw)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range ms {
			exposed[m.port] = struct{}{}
			bindings[m.port] = append(bindings[m.port], m.binding)
		}
	}
	return exposed, bindings, nil
}

// parseExpose adds the --expose values ("80", "80/udp", "8000-8010")
// to exposed.
func parseExpose(exposed network.PortSet, values []string) error {
	for _, e := range values {
		if strings.Contains(e, ":") {
			return fmt.Errorf("invalid port format for --expose: %s", e)
		}
		port, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		start, end, err := parsePortRange(port)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %s", e, err)
		}
		for i := start; i <= end; i++ {
			p, _ := network.PortFrom(uint16(i), network.IPProtocol(strings.ToLower(proto)))
			exposed[p] = struct{}{}
		}
	}
	return nil
}

// endpointSettings is the endpoint of --network-alias and --ip, nil
// when neither is given.
func endpointSettings(aliases []string, ip string) (*network.EndpointSettings, error) {
	if len(aliases) == 0 && ip == "" {
		return nil, nil
	}
	es := &network.EndpointSettings{Aliases: aliases}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s", ip)
		}
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
	}
	return es, nil
}
