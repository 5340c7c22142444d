package docker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/version"
)

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "capsa"},
		Version:       version.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            "linux",
		Arch:          goArch(),
		GitCommit:     version.Commit,
		GoVersion:     runtime.Version(),
		KernelVersion: kernelVersion(),
		Components: []system.ComponentVersion{{
			Name: "Engine", Version: version.Version,
			Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "GitCommit": version.Commit, "Os": "linux", "Arch": goArch(), "KernelVersion": kernelVersion()},
		}},
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.e.List(r.Context())
	if err != nil {
		return err
	}
	imgs, err := s.e.Images(r.Context())
	if err != nil {
		return err
	}
	in := system.Info{
		ID: "capsa", Containers: len(cs), Images: len(imgs),
		Driver: "overlay", LoggingDriver: "json-file", CgroupDriver: "cgroupfs",
		CgroupVersion: cgroupVersion(), KernelVersion: kernelVersion(),
		OperatingSystem: osName(), OSType: "linux", Architecture: archName(),
		NCPU: runtime.NumCPU(), MemTotal: int64(memTotal()), DockerRootDir: s.cfg.DataRoot,
		ServerVersion: version.Version, DefaultRuntime: s.cfg.DefaultRuntime,
		Runtimes: map[string]system.RuntimeWithStatus{}, MemoryLimit: true, SwapLimit: true,
		CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
		OomKillDisable: false, IPv4Forwarding: true, SystemTime: time.Now().Format(time.RFC3339Nano),
		InitBinary: "capsa-init", SecurityOptions: []string{"name=seccomp,profile=builtin"},
		LiveRestoreEnabled: true, Isolation: "", Labels: []string{}, Warnings: []string{},
		Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
	}
	in.Name, _ = os.Hostname()
	for _, c := range cs {
		switch c.State.Status {
		case engine.StatusRunning, engine.StatusRestarting:
			in.ContainersRunning++
		case engine.StatusPaused:
			in.ContainersPaused++
		default:
			in.ContainersStopped++
		}
	}
	for name, path := range s.cfg.Runtimes {
		in.Runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: path}}
	}
	return writeJSON(w, http.StatusOK, in)
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

func archName() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// osName is os-release's PRETTY_NAME.
func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := time.Now()
	since, err := parseTimestamp(q.Get("since"), now)
	if err != nil {
		return errdefs.Invalid(fmt.Sprintf("invalid value for since: %q", q.Get("since")))
	}
	until, err := parseTimestamp(q.Get("until"), now)
	if err != nil {
		return errdefs.Invalid(fmt.Sprintf("invalid value for until: %q", q.Get("until")))
	}
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	past, ch, cancel := s.e.Events(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(ev engine.Event) error {
		if !until.IsZero() && ev.Time.After(until) || !matchEvent(f, ev) {
			return nil
		}
		if err := enc.Encode(eventMessage(ev)); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	for _, ev := range past {
		if err := send(ev); err != nil {
			return nil
		}
	}
	var stop <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		stop = t.C
	}
	for {
		select {
		case ev := <-ch:
			if err := send(ev); err != nil {
				return nil
			}
		case <-stop:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

func eventMessage(ev engine.Event) events.Message {
	return events.Message{
		Type: events.Type(ev.Type), Action: events.Action(ev.Action),
		Actor: events.Actor{ID: ev.ID, Attributes: ev.Attributes}, Scope: "local",
		Time: ev.Time.Unix(), TimeNano: ev.Time.UnixNano(),
	}
}

// matchEvent applies docker events' filters.
func matchEvent(f map[string][]string, ev engine.Event) bool {
	in := func(key, v string) bool {
		vs := f[key]
		return len(vs) == 0 || slices.Contains(vs, v)
	}
	action, _, _ := strings.Cut(ev.Action, ":")
	if !in("type", ev.Type) || !(in("event", ev.Action) || in("event", action)) {
		return false
	}
	if vs := f["container"]; len(vs) > 0 {
		if ev.Type != "container" || !slices.ContainsFunc(vs, func(v string) bool {
			return v == ev.Attributes["name"] || strings.HasPrefix(ev.ID, v)
		}) {
			return false
		}
	}
	if vs := f["image"]; len(vs) > 0 && !slices.Contains(vs, ev.Attributes["image"]) && !slices.Contains(vs, ev.Attributes["name"]) {
		return false
	}
	return engine.MatchLabels(ev.Attributes, f["label"])
}

func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.e.List(r.Context())
	if err != nil {
		return err
	}
	imgs, err := s.e.Images(r.Context())
	if err != nil {
		return err
	}
	users := s.imageUsers(r)
	resp := struct {
		LayersSize int64
		Images     []image.Summary
		Containers []container.Summary
		Volumes    []any
		BuildCache []any
	}{Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []any{}, BuildCache: []any{}}
	for _, in := range imgs {
		resp.LayersSize += in.Size
		resp.Images = append(resp.Images, imageSummary(in, users[in.ID]))
	}
	vols := s.volumesDF(r)
	for _, v := range vols {
		resp.Volumes = append(resp.Volumes, v)
	}
	now := time.Now()
	for _, c := range cs {
		sm := summary(c, now)
		if fs, err := s.e.Filesystem(r.Context(), c.ID); err == nil {
			sm.SizeRw = dirSize(fs.Upper)
		}
		resp.Containers = append(resp.Containers, sm)
	}
	if versionLess(apiVersion(r), "1.52") {
		return writeJSON(w, http.StatusOK, resp)
	}
	return writeJSON(w, http.StatusOK, diskUsage(resp.Images, resp.Containers, vols, r.URL.Query().Get("verbose") != ""))
}

// diskUsage is GET /system/df's answer from API 1.52 on: per kind of
// object, counts and sizes (what could be reclaimed: the unused images,
// the containers not running, the volumes no container uses), and the
// objects themselves when verbose.
func diskUsage(imgs []image.Summary, cs []container.Summary, vols []volume.Volume, verbose bool) system.DiskUsage {
	du := system.DiskUsage{
		ImageUsage:      &image.DiskUsage{},
		ContainerUsage:  &container.DiskUsage{},
		VolumeUsage:     &volume.DiskUsage{},
		BuildCacheUsage: &build.DiskUsage{},
	}
	for _, in := range imgs {
		iu := du.ImageUsage
		iu.TotalCount++
		iu.TotalSize += in.Size
		if in.Containers > 0 {
			iu.ActiveCount++
		} else {
			iu.Reclaimable += in.Size
		}
	}
	for _, c := range cs {
		cu := du.ContainerUsage
		cu.TotalCount++
		cu.TotalSize += c.SizeRw
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			cu.ActiveCount++
		} else {
			cu.Reclaimable += c.SizeRw
		}
	}
	for _, v := range vols {
		vu := du.VolumeUsage
		vu.TotalCount++
		if v.UsageData == nil {
			continue
		}
		vu.TotalSize += v.UsageData.Size
		if v.UsageData.RefCount > 0 {
			vu.ActiveCount++
		} else {
			vu.Reclaimable += v.UsageData.Size
		}
	}
	if verbose {
		du.ImageUsage.Items, du.ContainerUsage.Items, du.VolumeUsage.Items = imgs, cs, vols
	}
	return du
}
