package docker

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	vol "github.com/capsa-dev/capsa/internal/volume"
)

// volumeJSON is a volume in docker's shape.
func volumeJSON(v vol.Volume) volume.Volume {
	labels := v.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return volume.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Scope: "local",
		CreatedAt: v.CreatedAt.Local().Format(time.RFC3339),
		Labels:    labels, Options: v.Options,
	}
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	v, err := s.e.VolumeCreate(r.Context(), vol.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, volumeJSON(v))
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.e.VolumeInspect(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, volumeJSON(v))
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.VolumeRemove(r.Context(), r.PathValue("name"), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// volumeFilterKeys are the filters GET /volumes takes.
var volumeFilterKeys = map[string]bool{"dangling": true, "name": true, "label": true, "driver": true}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range f {
		if !volumeFilterKeys[k] {
			return errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	var dangling *bool
	for _, d := range f["dangling"] {
		b, err := strconv.ParseBool(d)
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid filter 'dangling=%s'", d))
		}
		dangling = &b
	}
	resp := volume.ListResponse{Volumes: []volume.Volume{}}
	for _, v := range s.e.VolumeList(r.Context()) {
		if dangling != nil && *dangling != (len(v.UsedBy) == 0) {
			continue
		}
		if !matchAny(f["name"], func(n string) bool { return strings.Contains(v.Name, n) }) ||
			!matchAny(f["driver"], func(d string) bool { return d == v.Driver }) ||
			!matchLabels(v.Labels, f["label"]) {
			continue
		}
		resp.Volumes = append(resp.Volumes, volumeJSON(v))
	}
	return writeJSON(w, http.StatusOK, resp)
}

// matchAny is true if there are no wants or one of them matches.
func matchAny(wants []string, match func(string) bool) bool {
	if len(wants) == 0 {
		return true
	}
	for _, w := range wants {
		if match(w) {
			return true
		}
	}
	return false
}

// matchLabels is true if labels has every "key" or "key=value" of wants.
func matchLabels(labels map[string]string, wants []string) bool {
	for _, w := range wants {
		k, val, hasVal := strings.Cut(w, "=")
		got, ok := labels[k]
		if !ok || (hasVal && got != val) {
			return false
		}
	}
	return true
}

// volumePrune removes unused volumes: from API 1.42 only anonymous ones
// unless the filter all is true, as dockerd.
func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range f {
		if k != "label" && k != "label!" && k != "all" {
			return errdefs.Invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	all := versionLess(apiVersion(r), "1.42")
	for _, a := range f["all"] {
		b, err := strconv.ParseBool(a)
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("invalid filter 'all=%s'", a))
		}
		all = b
	}
	keep := func(v vol.Volume) bool {
		if !all && !v.Anonymous() {
			return true
		}
		if !matchLabels(v.Labels, f["label"]) {
			return true
		}
		for _, l := range f["label!"] {
			if matchLabels(v.Labels, []string{l}) {
				return true
			}
		}
		return false
	}
	names, reclaimed, err := s.e.VolumePrune(r.Context(), keep)
	if err != nil && len(names) == 0 {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: names, SpaceReclaimed: reclaimed})
}

// withVolumes replaces in mounts (made from the request's Binds and
// Mounts) the entries of the container's volumes by docker's volume
// mount points, and adds its anonymous ones.
func withVolumes(mounts []container.MountPoint, vols []engine.VolumeUse) []container.MountPoint {
	isVol := map[string]bool{}
	for _, v := range vols {
		isVol[v.Target] = true
	}
	out := make([]container.MountPoint, 0, len(mounts)+len(vols))
	for _, m := range mounts {
		if !isVol[filepath.Clean(m.Destination)] {
			out = append(out, m)
		}
	}
	for _, v := range vols {
		out = append(out, container.MountPoint{Type: mount.TypeVolume, Name: v.Name, Source: v.Source,
			Destination: v.Target, Driver: vol.DriverLocal, RW: !v.ReadOnly})
	}
	return out
}

// volumesDF lists the volumes for GET /system/df, with their sizes and
// how many containers use them.
func (s *Server) volumesDF(r *http.Request) []volume.Volume {
	out := []volume.Volume{}
	for _, v := range s.e.VolumeList(r.Context()) {
		j := volumeJSON(v)
		size, _ := vol.DirSize(v.Mountpoint)
		j.UsageData = &volume.UsageData{Size: size, RefCount: int64(len(v.UsedBy))}
		out = append(out, j)
	}
	return out
}
