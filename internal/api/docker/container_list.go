package docker

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range f {
		switch k {
		case "id", "name", "label", "status", "ancestor", "exited", "health", "before", "since":
		default:
			return errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	all := boolValue(r, "all")
	limit := -1
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid limit %q", v))
		}
		if n > 0 {
			limit, all = n, true
		}
	}
	infos, err := s.e.List(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(infos, func(a, b engine.Info) int { return b.Created.Compare(a.Created) })
	var before, since time.Time
	for _, key := range []string{"before", "since"} {
		if vs := f[key]; len(vs) > 0 {
			in, err := s.e.Inspect(r.Context(), vs[0])
			if err != nil {
				return err
			}
			if key == "before" {
				before = in.Created
			} else {
				since = in.Created
			}
		}
	}
	out := []container.Summary{}
	now, size := time.Now(), boolValue(r, "size")
	for _, in := range infos {
		if !all && !in.State.Status.Running() && len(f["status"]) == 0 {
			continue
		}
		if !before.IsZero() && !in.Created.Before(before) || !since.IsZero() && !in.Created.After(since) {
			continue
		}
		if !matchList(f, in) {
			continue
		}
		sm := summary(in, now)
		if size {
			// ps -s: the writable layer's size, and the whole tree's
			// (docker's "virtual": the image's layers with it).
			if fs, err := s.e.Filesystem(r.Context(), in.ID); err == nil {
				sm.SizeRw = dirSize(fs.Upper)
				sm.SizeRootFs = sm.SizeRw
				for _, l := range fs.Lowers {
					sm.SizeRootFs += dirSize(l)
				}
			}
		}
		out = append(out, sm)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchList applies docker ps's filters.
func matchList(f map[string][]string, in engine.Info) bool {
	any := func(vs []string, ok func(string) bool) bool {
		if len(vs) == 0 {
			return true
		}
		return slices.ContainsFunc(vs, ok)
	}
	if !any(f["id"], func(v string) bool { return strings.HasPrefix(in.ID, v) }) {
		return false
	}
	if !any(f["name"], func(v string) bool { return strings.Contains(in.Name, strings.TrimPrefix(v, "/")) }) {
		return false
	}
	if !any(f["status"], func(v string) bool { return string(in.State.Status) == v }) {
		return false
	}
	if !any(f["ancestor"], func(v string) bool {
		return in.Image == v || in.ImageID == v || strings.TrimPrefix(in.ImageID, "sha256:") == v || in.Image+":latest" == v
	}) {
		return false
	}
	if !any(f["exited"], func(v string) bool {
		return in.State.Status == engine.StatusExited && strconv.Itoa(in.State.ExitCode) == v
	}) {
		return false
	}
	if !any(f["health"], func(v string) bool {
		h := engine.HealthNone
		if in.State.Health != nil {
			h = in.State.Health.Status
		}
		return h == v
	}) {
		return false
	}
	return engine.MatchLabels(in.Labels, f["label"])
}

// statusText is docker ps's STATUS column.
func statusText(in engine.Info, now time.Time) string {
	st := in.State
	switch st.Status {
	case engine.StatusRunning, engine.StatusPaused:
		s := "Up " + units.HumanDuration(now.Sub(st.StartedAt))
		if st.Status == engine.StatusPaused {
			s += " (Paused)"
		}
		if h := st.Health; h != nil {
			if h.Status == engine.HealthStarting {
				s += " (health: starting)"
			} else {
				s += " (" + h.Status + ")"
			}
		}
		return s
	case engine.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case engine.StatusExited:
		if st.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case engine.StatusRemoving:
		return "Removal In Progress"
	case engine.StatusDead:
		return "Dead"
	}
	return "Created"
}

func summary(in engine.Info, now time.Time) container.Summary {
	cfg, hc := configs(in)
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		args = in.Cmd
	}
	// dockerd's Command: the path, then the arguments, those with a space
	// in single quotes.
	for i, a := range args {
		if i > 0 && strings.Contains(a, " ") {
			args[i] = "'" + a + "'"
		}
	}
	cmd := strings.Join(args, " ")
	sm := container.Summary{
		ID: in.ID, Names: []string{"/" + in.Name}, Image: in.Image, ImageID: in.ImageID,
		Command: cmd, Created: in.Created.Unix(), Ports: portSummaries(containerPorts(in, cfg, hc)),
		Labels: in.Labels, State: container.ContainerState(in.State.Status), Status: statusText(in, now),
		Mounts: []container.MountPoint{},
	}
	if sm.Labels == nil {
		sm.Labels = map[string]string{}
	}
	sm.HostConfig.NetworkMode = string(hc.NetworkMode)
	sm.NetworkSettings = &container.NetworkSettingsSummary{Networks: containerNetworks(in, hc)}
	if h := in.State.Health; h != nil {
		sm.Health = &container.HealthSummary{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak}
	}
	return sm
}
