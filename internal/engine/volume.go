package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/cleanup"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
	"github.com/capsa-dev/capsa/internal/volume"
)

// VolumeMount is a volume a container mounts: -v name:/path[:ro],
// --mount type=volume, or -v /path (Name "": anonymous).
type VolumeMount struct {
	Name     string
	Target   string
	ReadOnly bool
	// NoCopy keeps an empty volume empty instead of seeding it with the
	// image's content at Target.
	NoCopy bool
	// Labels of the volume if the mount creates it.
	Labels map[string]string
}

// volumeRef is a volume in a container's record.
type volumeRef struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	ReadOnly  bool   `json:"read_only,omitempty"`
	Anonymous bool   `json:"anonymous,omitempty"`
}

// VolumeUse is a container's volume mount, as inspect shows it.
type VolumeUse struct {
	Name, Source, Target string
	ReadOnly             bool
}

// openVolumes opens the volume store and counts, from the container
// records, which containers use each volume.
func (e *Engine) openVolumes() error {
	var err error
	if e.vols, err = volume.Open(filepath.Join(e.cfg.DataRoot, "volumes")); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, c := range e.containers {
		for _, v := range c.rec.Volumes {
			if err := e.vols.Ref(v.Name, id); err != nil {
				e.log.Warn("container's volume is gone", "container", id, "volume", v.Name)
			}
		}
	}
	return nil
}

// checkVolumeTarget refuses a container path that is relative, "/", or
// climbs with "..", before anything is made.
func checkVolumeTarget(target string) error {
	if !filepath.IsAbs(target) {
		return errdefs.Invalid(fmt.Sprintf("invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", target))
	}
	if slices.Contains(strings.Split(target, "/"), "..") {
		return errdefs.Invalid(fmt.Sprintf("invalid mount config for type \"volume\": invalid mount path: '%s' mount path must not contain '..'", target))
	}
	if filepath.Clean(target) == "/" {
		return errdefs.Invalid("invalid mount config for type \"volume\": invalid specification: destination can't be '/'")
	}
	return nil
}

// checkVolumeMounts validates ms at the door: names and targets.
func checkVolumeMounts(ms []VolumeMount) error {
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Name != "" {
			if err := volume.ValidateName(m.Name); err != nil {
				return err
			}
		}
		if err := checkVolumeTarget(m.Target); err != nil {
			return err
		}
		t := filepath.Clean(m.Target)
		if seen[t] {
			return errdefs.Invalid(fmt.Sprintf("Duplicate mount point: %s", t))
		}
		seen[t] = true
	}
	return nil
}

// attachVolumes acquires the volumes of ms and of the image's VOLUMEs
// that no other mount covers (those anonymous), seeds empty ones from the
// image at rootfs, and adds their binds to spec. cu undoes it all.
func (e *Engine) attachVolumes(ctx context.Context, cu *cleanup.Stack, id, rootfs string, spec *specs.Spec, ms []VolumeMount, imageVolumes map[string]struct{}) ([]volumeRef, error) {
	covered := map[string]bool{}
	for _, m := range spec.Mounts {
		covered[filepath.Clean(m.Destination)] = true
	}
	for _, m := range ms {
		covered[filepath.Clean(m.Target)] = true
	}
	all := slices.Clone(ms)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range imageVolumes {
			if !yield(p) {
				return
			}
		}
	}) {
		if !filepath.IsAbs(p) || covered[filepath.Clean(p)] || checkVolumeTarget(p) != nil {
			continue
		}
		covered[filepath.Clean(p)] = true
		all = append(all, VolumeMount{Target: p})
	}
	var refs []volumeRef
	for _, m := range all {
		o := volume.CreateOptions{Name: m.Name, Labels: m.Labels}
		anon := m.Name == ""
		if anon {
			o.Labels = map[string]string{volume.LabelAnonymous: ""}
		}
		v, created, err := e.vols.Acquire(id, o)
		if err != nil {
			return nil, err
		}
		cu.Add(func() {
			e.vols.Unref(v.Name, id)
			if created {
				_ = e.vols.Remove(v.Name, true)
			}
		})
		if created {
			e.emit(Event{Type: "volume", Action: "create", ID: v.Name, Attributes: map[string]string{"driver": v.Driver}})
		}
		if !m.NoCopy {
			if err := volume.CopyUp(ctx, rootfs, filepath.Clean(m.Target), v); err != nil {
				return nil, err
			}
		}
		if err := oci.WithBindMount(v.Mountpoint, m.Target, m.ReadOnly)(ctx, spec); err != nil {
			return nil, err
		}
		refs = append(refs, volumeRef{Name: v.Name, Target: filepath.Clean(m.Target), ReadOnly: m.ReadOnly, Anonymous: v.Anonymous()})
	}
	oci.SortMounts(spec)
	return refs, nil
}

// releaseVolumes forgets that container id uses refs, and removes its
// anonymous volumes if anon (rm -v, --rm).
func (e *Engine) releaseVolumes(id string, refs []volumeRef, anon bool) {
	for _, r := range refs {
		e.vols.Unref(r.Name, id)
		if anon && r.Anonymous {
			if err := e.vols.Remove(r.Name, true); err != nil {
				// Another container may use it (--volumes-from); docker
				// keeps it then too.
				e.log.Debug("keep anonymous volume", "volume", r.Name, "err", err)
				continue
			}
			e.emit(Event{Type: "volume", Action: "destroy", ID: r.Name})
		}
	}
}

// Volumes lists the volumes container ref mounts.
func (e *Engine) Volumes(ref string) ([]VolumeUse, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	refs := slices.Clone(c.rec.Volumes)
	c.mu.Unlock()
	out := make([]VolumeUse, 0, len(refs))
	for _, r := range refs {
		out = append(out, VolumeUse{Name: r.Name, Source: filepath.Join(e.vols.Root(), r.Name, "_data"), Target: r.Target, ReadOnly: r.ReadOnly})
	}
	return out, nil
}

// VolumeCreate makes a volume, or returns the existing one of its name.
func (e *Engine) VolumeCreate(ctx context.Context, o volume.CreateOptions) (volume.Volume, error) {
	v, created, err := e.vols.Create(o)
	if err != nil {
		return volume.Volume{}, err
	}
	if created {
		e.emit(Event{Type: "volume", Action: "create", ID: v.Name, Attributes: map[string]string{"driver": v.Driver}})
	}
	return v, nil
}

// VolumeInspect returns volume name.
func (e *Engine) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return e.vols.Get(name)
}

// VolumeList returns every volume, sorted by name.
func (e *Engine) VolumeList(ctx context.Context) []volume.Volume {
	return e.vols.List()
}

// VolumeRemove deletes volume name; one in use is a conflict even with
// force, which only makes a missing volume not an error.
func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	if _, err := e.vols.Get(name); err != nil {
		if force {
			return nil
		}
		return err
	}
	if err := e.vols.Remove(name, force); err != nil {
		return err
	}
	e.emit(Event{Type: "volume", Action: "destroy", ID: name})
	return nil
}

// VolumePrune removes the unused volumes that keep does not keep.
func (e *Engine) VolumePrune(ctx context.Context, keep func(volume.Volume) bool) ([]string, uint64, error) {
	names, n, err := e.vols.Prune(keep)
	for _, name := range names {
		e.emit(Event{Type: "volume", Action: "destroy", ID: name})
	}
	return names, n, err
}

// volumesFrom reads --volumes-from ("<name|id>[:ro|:rw]"): the volumes of
// those containers, at the same targets, read-only if asked or if they
// were; a target ms already has keeps its own mount.
func (e *Engine) volumesFrom(from []string, ms []VolumeMount) ([]VolumeMount, error) {
	have := map[string]bool{}
	for _, m := range ms {
		have[filepath.Clean(m.Target)] = true
	}
	out := ms
	for _, f := range from {
		ref, mode, _ := strings.Cut(f, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, errdefs.Invalid(fmt.Sprintf("invalid mode for volumes-from: %s", mode))
		}
		c, err := e.lookup(ref)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		vols := slices.Clone(c.rec.Volumes)
		c.mu.Unlock()
		for _, v := range vols {
			if have[v.Target] {
				continue
			}
			have[v.Target] = true
			ro := v.ReadOnly
			if mode != "" {
				ro = mode == "ro"
			}
			out = append(out, VolumeMount{Name: v.Name, Target: v.Target, ReadOnly: ro, NoCopy: true})
		}
	}
	return out, nil
}
