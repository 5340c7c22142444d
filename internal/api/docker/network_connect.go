package docker

import (
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// networkConnect is POST /networks/{id}/connect: {Container,
// EndpointConfig{Aliases, IPAMConfig{IPv4Address}}}.
func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalid("container ID or name is required")
	}
	ep, err := endpointOptions(req.EndpointConfig)
	if err != nil {
		return err
	}
	if err := s.e.NetworkConnect(r.Context(), r.PathValue("id"), req.Container, ep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// endpointOptions reads the endpoint settings of a connect request.
func endpointOptions(es *network.EndpointSettings) (engine.EndpointOptions, error) {
	var ep engine.EndpointOptions
	if es == nil {
		return ep, nil
	}
	ep.Aliases = es.Aliases
	if c := es.IPAMConfig; c != nil {
		if c.IPv6Address.IsValid() {
			return ep, errdefs.NotImplemented("IPv6 addresses are not supported: capsa's networks are IPv4")
		}
		if c.IPv4Address.IsValid() {
			if !c.IPv4Address.Is4() {
				return ep, errdefs.Invalid("invalid IPv4 address: " + c.IPv4Address.String())
			}
			ep.IPv4 = c.IPv4Address.String()
		}
	}
	return ep, nil
}
