package docker

import (
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	capnet "github.com/capsa-dev/capsa/internal/network"
)

// networkList is GET /networks, with dockerd's filters: name, id, label,
// driver, type (custom or builtin), dangling.
func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k, vs := range f {
		switch k {
		case "name", "id", "label", "driver", "scope":
		case "type":
			for _, v := range vs {
				if v != "custom" && v != "builtin" {
					return errdefs.Invalid(fmt.Sprintf("invalid filter: 'type'='%s'", v))
				}
			}
		case "dangling":
			for _, v := range vs {
				if _, ok := parseBoolFilter(v); !ok {
					return errdefs.Invalid(fmt.Sprintf("invalid filter 'dangling=%s'", v))
				}
			}
		default:
			return errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	out := []network.Summary{}
	for _, n := range s.e.NetworkList(r.Context()) {
		if !matchNetwork(f, n) {
			continue
		}
		if vs := f["dangling"]; len(vs) > 0 {
			dangling, _ := parseBoolFilter(vs[0])
			_, members, err := s.e.NetworkInspect(r.Context(), n.ID)
			if err != nil {
				continue // removed meanwhile
			}
			if dangling != (!n.Predefined && len(members) == 0) {
				continue
			}
		}
		out = append(out, network.Summary{Network: networkJSON(n, nil).Network})
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchNetwork applies the filters of network ls other than dangling.
func matchNetwork(f map[string][]string, n capnet.Network) bool {
	if !matchFilter(f["name"], n.Name) || !prefixFilter(f["id"], n.ID) || !matchFilter(f["driver"], n.Driver) {
		return false
	}
	if vs := f["scope"]; len(vs) > 0 && !matchFilter(vs, "local") {
		return false
	}
	if vs := f["type"]; len(vs) > 0 {
		t := "custom"
		if n.Predefined {
			t = "builtin"
		}
		if !matchFilter(vs, t) {
			return false
		}
	}
	return engine.MatchLabels(n.Labels, f["label"])
}

// parseBoolFilter reads a boolean filter value as dockerd does.
func parseBoolFilter(v string) (bool, bool) {
	switch v {
	case "1", "true", "True", "TRUE":
		return true, true
	case "0", "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
