package docker

import (
	"net/http"

	"github.com/moby/moby/api/types/container"
)

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	titles, procs, err := s.e.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	if procs == nil {
		procs = [][]string{}
	}
	return writeJSON(w, http.StatusOK, container.TopResponse{Titles: titles, Processes: procs})
}
