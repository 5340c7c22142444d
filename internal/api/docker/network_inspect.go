package docker

import "net/http"

// networkInspect is GET /networks/{id}: by name, ID or ID prefix.
func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, members, err := s.e.NetworkInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, networkJSON(n, members))
}
