package docker

import "net/http"

// networkRemove is DELETE /networks/{id}.
func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
