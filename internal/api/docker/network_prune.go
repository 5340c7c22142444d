package docker

import (
	"fmt"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	capnet "github.com/capsa-dev/capsa/internal/network"
)

// networkPrune is POST /networks/prune: removes the custom networks no
// container is on, with the filters label, label! and until.
func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	keep, err := pruneKeep(f, time.Now())
	if err != nil {
		return err
	}
	removed, err := s.e.NetworkPrune(r.Context(), keep)
	if err != nil && len(removed) == 0 {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: removed})
}

// pruneKeep turns prune's filters into the networks to keep.
func pruneKeep(f map[string][]string, now time.Time) (func(capnet.Network) bool, error) {
	var until time.Time
	for k, vs := range f {
		switch k {
		case "label", "label!":
		case "until":
			if len(vs) > 1 {
				return nil, errdefs.Invalid("more than one until filter specified")
			}
			t, err := parseTimestamp(vs[0], now)
			if err != nil {
				return nil, errdefs.Invalid(fmt.Sprintf("invalid filter 'until=%s'", vs[0]))
			}
			until = t
		default:
			return nil, errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	labels, notLabels := f["label"], f["label!"]
	return func(n capnet.Network) bool {
		if n.Predefined {
			return true
		}
		if !until.IsZero() && !n.Created.Before(until) {
			return true
		}
		if !engine.MatchLabels(n.Labels, labels) {
			return true
		}
		for _, l := range notLabels {
			if engine.MatchLabels(n.Labels, []string{l}) {
				return true
			}
		}
		return false
	}, nil
}
