package docker

import (
	"net/http"

	"github.com/moby/moby/api/types/container"
)

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	opts, warnings, err := s.createOptions(r.URL.Query().Get("name"), req.Config, req.HostConfig, req.NetworkingConfig)
	if err != nil {
		return err
	}
	info, err := s.e.Create(r.Context(), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CreateResponse{ID: info.ID, Warnings: append([]string{}, warnings...)})
}
