package docker

import (
	"encoding/json"
	"fmt"
	"net/http"

	registrytypes "github.com/moby/moby/api/types/registry"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// auth is POST /auth (docker login): the credentials are checked against
// the registry (its token service, or basic auth); nothing is stored.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) error {
	var ac registrytypes.AuthConfig
	if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
		return errdefs.Invalid(fmt.Sprintf("login: %v", err))
	}
	err := s.e.LoginRegistry(r.Context(), ac.ServerAddress, engine.RegistryAuth{
		Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registrytypes.AuthResponse{Status: "Login Succeeded"})
}
