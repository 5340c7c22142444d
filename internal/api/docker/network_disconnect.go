package docker

import (
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// networkDisconnect is POST /networks/{id}/disconnect: {Container, Force}.
func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalid("container ID or name is required")
	}
	if err := s.e.NetworkDisconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
