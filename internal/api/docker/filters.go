package docker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// parseFilters reads ?filters=, Docker's JSON map of filter names to
// values: {"label":{"a=b":true}} (or the old form {"label":["a=b"]}).
func parseFilters(r *http.Request) (map[string][]string, error) {
	out := map[string][]string{}
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return out, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		for k, vs := range m {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
		}
		return out, nil
	}
	var old map[string][]string
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("invalid filters %q: %v", raw, err))
	}
	return old, nil
}

// parseTimestamp reads Docker's times: Unix seconds (with a fraction),
// RFC 3339, or a duration before now ("10m").
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	// "0" is the epoch, not a duration of nothing (docker's GetTimestamp):
	// events --since 0 replays everything.
	if d, err := time.ParseDuration(v); v != "0" && err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			ns := int64(0)
			if ok {
				f := (frac + "000000000")[:9]
				n, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return time.Time{}, err
				}
				ns = n
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", v)
}
