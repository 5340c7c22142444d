package docker

import (
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/errdefs"
	capnet "github.com/capsa-dev/capsa/internal/network"
)

// networkCreate is POST /networks/create; it answers 201 {Id, Warning}.
func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := networkCreateOptions(req)
	if err != nil {
		return err
	}
	n, err := s.e.NetworkCreate(r.Context(), o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
}

// networkCreateOptions checks a create request at the boundary: capsa
// has local IPv4 bridge networks with one subnet.
func networkCreateOptions(req network.CreateRequest) (capnet.CreateOptions, error) {
	o := capnet.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	if req.Name == "" {
		return o, errdefs.Invalid("invalid name: network name must not be empty")
	}
	switch req.Name {
	case capnet.DefaultName, capnet.HostName, capnet.NoneName:
		return o, errdefs.Permission(fmt.Sprintf("operation is not permitted on predefined %s network ", req.Name))
	}
	switch req.Driver {
	case "", capnet.DriverBridge:
		o.Driver = capnet.DriverBridge
	case capnet.DriverHost, capnet.DriverNull:
		return o, errdefs.Permission(fmt.Sprintf("only one instance of %q network is allowed", req.Driver))
	case "overlay", "macvlan", "ipvlan":
		return o, errdefs.NotImplemented(fmt.Sprintf("network driver %s is not supported: capsa has bridge networks", req.Driver))
	default:
		return o, errdefs.NotFound(fmt.Sprintf("plugin %q not found", req.Driver))
	}
	switch req.Scope {
	case "", "local":
	default:
		return o, errdefs.NotImplemented(fmt.Sprintf("network scope %s is not supported: capsa's networks are local", req.Scope))
	}
	switch {
	case req.EnableIPv6 != nil && *req.EnableIPv6:
		return o, errdefs.NotImplemented("IPv6 networks are not supported: capsa's networks are IPv4")
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return o, errdefs.NotImplemented("networks without IPv4 are not supported")
	case req.Ingress:
		return o, errdefs.NotImplemented("ingress networks are not supported: capsa has no swarm")
	case req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "":
		return o, errdefs.NotImplemented("config-only networks are not supported")
	}
	if ipam := req.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return o, errdefs.NotFound(fmt.Sprintf("plugin %q not found", ipam.Driver))
		}
		if len(ipam.Config) > 1 {
			return o, errdefs.NotImplemented("more than one subnet is not supported: capsa's networks have one IPv4 subnet")
		}
		if len(ipam.Config) == 1 {
			c := ipam.Config[0]
			switch {
			case c.IPRange.IsValid():
				return o, errdefs.NotImplemented("--ip-range is not supported")
			case len(c.AuxAddress) > 0:
				return o, errdefs.NotImplemented("--aux-address is not supported")
			case c.Gateway.IsValid() && !c.Subnet.IsValid():
				return o, errdefs.Invalid("every ip-range or gateway must have a corresponding subnet")
			case c.Subnet.IsValid() && !c.Subnet.Addr().Is4():
				return o, errdefs.NotImplemented(fmt.Sprintf("subnet %s: IPv6 networks are not supported: capsa's networks are IPv4", c.Subnet))
			case c.Gateway.IsValid() && !c.Gateway.Is4():
				return o, errdefs.Invalid(fmt.Sprintf("invalid gateway %s: not an IPv4 address", c.Gateway))
			}
			if c.Subnet.IsValid() {
				o.Subnet = c.Subnet.String()
			}
			if c.Gateway.IsValid() {
				o.Gateway = c.Gateway.String()
			}
		}
	}
	return o, nil
}
