package docker

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/capsa-dev/capsa/internal/engine"
)

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	info, err := s.e.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	resp := inspectResponse(info)
	if vols, err := s.e.Volumes(info.ID); err == nil {
		resp.Mounts = withVolumes(resp.Mounts, vols)
	}
	if v := apiVersion(r); versionLess(v, "1.52") {
		if versionLess(v, "1.45") {
			// Before 1.45 dockerd lists the short ID among the aliases
			// on a user network.
			for name, es := range resp.NetworkSettings.Networks {
				if es.DNSNames != nil && name != network.NetworkBridge {
					es.Aliases = append(es.Aliases, info.ID[:min(12, len(info.ID))])
				}
			}
		}
		return writeJSON(w, http.StatusOK, legacyInspect(resp))
	}
	return writeJSON(w, http.StatusOK, resp)
}

// dockerTime formats t as Docker's inspect does; the zero time is
// Docker's "0001-01-01T00:00:00Z".
func dockerTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func configs(in engine.Info) (*container.Config, *container.HostConfig) {
	cfg, hc := &container.Config{}, &container.HostConfig{}
	if raw, ok := in.Extensions[extConfig]; ok {
		_ = json.Unmarshal(raw, cfg)
	}
	if raw, ok := in.Extensions[extHostConfig]; ok {
		_ = json.Unmarshal(raw, hc)
	}
	// What the engine decided wins over what was asked.
	cfg.Image, cfg.Env, cfg.Tty, cfg.Labels = in.Image, in.Env, in.Tty, in.Labels
	cfg.OpenStdin, cfg.StdinOnce = in.OpenStdin, in.StdinOnce
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.StopSignal = in.StopSignal
	for _, p := range in.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = network.PortSet{}
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	if len(cfg.Cmd) == 0 && len(cfg.Entrypoint) == 0 {
		cfg.Cmd = in.Cmd
	}
	if cfg.Hostname == "" {
		cfg.Hostname = in.ID[:12]
	}
	if hc.NetworkMode == "" || hc.NetworkMode == defaultNetworkModeAlias {
		hc.NetworkMode = network.NetworkBridge
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = "no"
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.Runtime == "" {
		hc.Runtime = in.Runtime
	}
	return cfg, hc
}

func inspectResponse(in engine.Info) container.InspectResponse {
	cfg, hc := configs(in)
	st := in.State
	state := &container.State{
		Status:     container.ContainerState(st.Status),
		Running:    st.Status == engine.StatusRunning || st.Status == engine.StatusPaused,
		Paused:     st.Status == engine.StatusPaused,
		Restarting: st.Status == engine.StatusRestarting,
		OOMKilled:  st.OOMKilled,
		Dead:       st.Status == engine.StatusDead,
		Pid:        st.Pid,
		ExitCode:   st.ExitCode,
		Error:      st.Error,
		StartedAt:  dockerTime(st.StartedAt),
		FinishedAt: dockerTime(st.FinishedAt),
	}
	if h := st.Health; h != nil {
		ch := &container.Health{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak, Log: []*container.HealthcheckResult{}}
		for _, l := range h.Log {
			ch.Log = append(ch.Log, &container.HealthcheckResult{Start: l.Start, End: l.End, ExitCode: l.ExitCode, Output: l.Output})
		}
		state.Health = ch
	}
	path, args := "", []string{}
	if len(in.Cmd) > 0 {
		path, args = in.Cmd[0], in.Cmd[1:]
	}
	mounts := []container.MountPoint{}
	for _, b := range hc.Binds {
		p := strings.Split(b, ":")
		if len(p) >= 2 {
			mounts = append(mounts, container.MountPoint{Type: "bind", Source: p[0], Destination: p[1], RW: len(p) < 3 || !strings.Contains(p[2], "ro"), Propagation: "rprivate"})
		}
	}
	for _, m := range hc.Mounts {
		mounts = append(mounts, container.MountPoint{Type: m.Type, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly})
	}
	return container.InspectResponse{
		ID:           in.ID,
		Created:      dockerTime(in.Created),
		Path:         path,
		Args:         args,
		State:        state,
		Image:        in.ImageID,
		LogPath:      in.LogPath,
		Name:         "/" + in.Name,
		RestartCount: in.RestartCount,
		Driver:       "overlay",
		Platform:     "linux",
		ExecIDs:      nil,
		HostConfig:   hc,
		GraphDriver:  &storage.DriverData{Name: "overlay", Data: map[string]string{"MergedDir": in.Rootfs}},
		Mounts:       mounts,
		Config:       cfg,
		NetworkSettings: &container.NetworkSettings{
			SandboxKey: in.Network.SandboxKey,
			Ports:      containerPorts(in, cfg, hc),
			Networks:   containerNetworks(in, hc),
		},
	}
}
