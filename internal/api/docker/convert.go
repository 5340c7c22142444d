package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/oci"
)

// Keys of the engine's Extensions under which the Docker API keeps the
// request's Config and HostConfig, for inspect.
const (
	extConfig     = "docker.config"
	extHostConfig = "docker.hostconfig"
)

// createOptions translates a container create request into the engine's
// options. Every value is checked here, at the boundary, with an error
// that names the field.
// It returns dockerd's warnings besides.
func (s *Server) createOptions(name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (engine.CreateOptions, []string, error) {
	o, err := s.createOptionsNoWarn(name, cfg, hc)
	if err != nil {
		return o, nil, err
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	net, warnings, err := networkOptions(cfg, hc, nc)
	if err != nil {
		return o, nil, err
	}
	o.Network = net
	if o.VolumesFrom, err = volumesFrom(hc.VolumesFrom); err != nil {
		return o, nil, err
	}
	return o, warnings, nil
}

func (s *Server) createOptionsNoWarn(name string, cfg *container.Config, hc *container.HostConfig) (engine.CreateOptions, error) {
	if cfg == nil {
		return engine.CreateOptions{}, errdefs.Invalid("config cannot be empty in order to create a container")
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if cfg.Image == "" {
		return engine.CreateOptions{}, errdefs.Invalid("no image specified: an image is required to create a container")
	}
	o := engine.CreateOptions{
		Name: name, Image: cfg.Image, Env: cfg.Env, Tty: cfg.Tty,
		Labels: cfg.Labels, OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
		AutoRemove: hc.AutoRemove, StopSignal: cfg.StopSignal, StopTimeout: cfg.StopTimeout,
		Runtime: hc.Runtime,
	}
	if len(cfg.Cmd) > 0 {
		o.Cmd = cfg.Cmd
	}
	if cfg.Healthcheck != nil && len(cfg.Healthcheck.Test) > 0 {
		h := cfg.Healthcheck
		o.Healthcheck = &engine.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	o.Restart = engine.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaxRetries: hc.RestartPolicy.MaximumRetryCount}
	if o.Restart.Name == "" {
		o.Restart.Name = engine.RestartNo
	}
	lc, err := logConfig(hc.LogConfig)
	if err != nil {
		return o, err
	}
	o.Log = lc

	so := &o.SpecOpts
	add := func(opt oci.SpecOpt) { *so = append(*so, opt) }
	if cfg.Entrypoint != nil {
		add(oci.WithEntrypoint(cfg.Entrypoint...))
	}
	if cfg.WorkingDir != "" {
		if !filepath.IsAbs(cfg.WorkingDir) {
			return o, errdefs.Invalid(fmt.Sprintf("the working directory %q is invalid: it needs to be an absolute path", cfg.WorkingDir))
		}
		add(oci.WithWorkdir(cfg.WorkingDir))
	}
	if cfg.Hostname != "" {
		add(oci.WithHostname(cfg.Hostname))
	}
	if cfg.User != "" {
		add(oci.WithUser(cfg.User))
	}
	if hc.Privileged {
		add(oci.WithPrivileged())
	}
	if len(hc.CapAdd) > 0 {
		add(oci.WithCapAdd(hc.CapAdd...))
	}
	if len(hc.CapDrop) > 0 {
		add(oci.WithCapDrop(hc.CapDrop...))
	}
	if hc.ReadonlyRootfs {
		add(oci.WithReadonlyRootfs(true))
	}
	if err := securityOpts(hc.SecurityOpt, add); err != nil {
		return o, err
	}
	if hc.Init != nil && *hc.Init {
		if s.cfg.InitPath == "" {
			return o, errdefs.Invalid("--init: no init binary is configured (capsa-init not found)")
		}
		add(oci.WithInit(s.cfg.InitPath))
	}
	if err := resources(hc.Resources, add); err != nil {
		return o, err
	}
	for _, b := range hc.Binds {
		opt, vm, err := bindSpec(b)
		if err != nil {
			return o, err
		}
		if vm != nil {
			o.Volumes = append(o.Volumes, *vm)
			continue
		}
		add(opt)
	}
	for _, m := range hc.Mounts {
		if m.Type == mount.TypeVolume {
			vm, err := volumeMount(m)
			if err != nil {
				return o, err
			}
			o.Volumes = append(o.Volumes, vm)
			continue
		}
		opt, err := mountSpec(m)
		if err != nil {
			return o, err
		}
		add(opt)
	}
	o.Volumes = append(o.Volumes, anonymousVolumes(cfg.Volumes, hc)...)
	for dst, opts := range hc.Tmpfs {
		add(oci.WithTmpfs(dst, opts))
	}
	if hc.ShmSize > 0 {
		add(oci.WithShmSize(hc.ShmSize))
	}

	cj, err := json.Marshal(cfg)
	if err != nil {
		return o, err
	}
	hj, err := json.Marshal(hc)
	if err != nil {
		return o, err
	}
	o.Extensions = map[string]json.RawMessage{extConfig: cj, extHostConfig: hj}
	return o, nil
}

// logConfig accepts the json-file driver (the default) with its max-size
// and max-file options.
func logConfig(lc container.LogConfig) (engine.LogConfig, error) {
	switch lc.Type {
	case "", "json-file":
	default:
		return engine.LogConfig{}, errdefs.Invalid(fmt.Sprintf("log driver %q is not supported: capsa has json-file", lc.Type))
	}
	var out engine.LogConfig
	for k, v := range lc.Config {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n < 0 {
				return out, errdefs.Invalid(fmt.Sprintf("log option max-size %q: invalid size", v))
			}
			out.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return out, errdefs.Invalid(fmt.Sprintf("log option max-file %q: must be a positive number", v))
			}
			out.MaxFiles = n
		case "compress", "labels", "env", "env-regex", "tag":
			// Accepted and ignored, as options that change nothing here.
		default:
			return out, errdefs.Invalid(fmt.Sprintf("unknown log opt '%s' for json-file log driver", k))
		}
	}
	if out.MaxFiles > 1 && out.MaxSize == 0 {
		return out, errdefs.Invalid("log option max-file needs max-size")
	}
	return out, nil
}

// securityOpts reads --security-opt values: seccomp=unconfined or a
// profile (the docker CLI sends the file's JSON content),
// no-new-privileges[=true|false]; apparmor and label are accepted as
// docker accepts them on hosts without those modules.
func securityOpts(list []string, add func(oci.SpecOpt)) error {
	for _, opt := range list {
		k, v, hasV := strings.Cut(opt, "=")
		if !hasV {
			k, v, hasV = strings.Cut(opt, ":")
		}
		switch k {
		case "seccomp":
			if v == "unconfined" {
				add(oci.WithSeccompUnconfined())
			} else if strings.HasPrefix(strings.TrimSpace(v), "{") {
				add(oci.WithSeccompProfile([]byte(v)))
			} else {
				return errdefs.Invalid(fmt.Sprintf("invalid --security-opt seccomp=%q: want unconfined or a JSON profile", v))
			}
		case "no-new-privileges":
			on := true
			if hasV {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errdefs.Invalid(fmt.Sprintf("invalid --security-opt %q: no-new-privileges takes true or false", opt))
				}
				on = b
			}
			add(oci.WithNoNewPrivileges(on))
		case "apparmor", "label", "systempaths":
			if k == "systempaths" && v == "unconfined" {
				add(oci.WithUnmaskedPaths())
			}
		default:
			return errdefs.Invalid(fmt.Sprintf("invalid --security-opt: %q", opt))
		}
	}
	return nil
}

// resources reads the resource limits of a create request.
func resources(r container.Resources, add func(oci.SpecOpt)) error {
	if r.Memory < 0 {
		return errdefs.Invalid("invalid memory limit: must not be negative")
	}
	if r.Memory > 0 {
		if r.Memory < 6*1024*1024 {
			return errdefs.Invalid("minimum memory limit allowed is 6MB")
		}
		add(oci.WithMemoryLimit(r.Memory))
	}
	if r.MemorySwap != 0 {
		if r.Memory == 0 && r.MemorySwap > 0 {
			return errdefs.Invalid("you should always set the memory limit when using the memory swap limit")
		}
		add(oci.WithMemorySwap(r.MemorySwap))
	}
	if r.NanoCPUs != 0 {
		if r.CPUQuota > 0 || r.CPUPeriod > 0 {
			return errdefs.Invalid("conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")
		}
		add(oci.WithCPUs(float64(r.NanoCPUs) / 1e9))
	}
	if r.CPUShares != 0 {
		add(oci.WithCPUShares(r.CPUShares))
	}
	if r.CpusetCpus != "" {
		add(oci.WithCpusetCpus(r.CpusetCpus))
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		add(oci.WithPidsLimit(*r.PidsLimit))
	}
	if len(r.Ulimits) > 0 {
		var uls []oci.Ulimit
		for _, u := range r.Ulimits {
			if u == nil {
				continue
			}
			ul, err := oci.ParseUlimit(fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
			if err != nil {
				return err
			}
			uls = append(uls, ul)
		}
		add(oci.WithUlimits(uls...))
	}
	return nil
}

// bindSpec reads a -v host:container[:options]: a bind if the source is
// an absolute path, else a named volume (vm set).
func bindSpec(b string) (oci.SpecOpt, *engine.VolumeMount, error) {
	parts := strings.Split(b, ":")
	if len(parts) < 2 || len(parts) > 3 {
		if len(parts) == 1 && filepath.IsAbs(parts[0]) {
			return nil, &engine.VolumeMount{Target: parts[0]}, nil
		}
		return nil, nil, errdefs.Invalid(fmt.Sprintf("invalid volume specification: %q", b))
	}
	src, dst := parts[0], parts[1]
	if src == "" {
		return nil, nil, errdefs.Invalid(fmt.Sprintf("invalid volume specification: %q", b))
	}
	ro, nocopy := false, false
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				ro = true
			case "nocopy":
				nocopy = true
			case "rw", "z", "Z", "rprivate", "private", "rshared", "shared", "rslave", "slave":
			default:
				return nil, nil, errdefs.Invalid(fmt.Sprintf("invalid mode %q in volume specification %q", o, b))
			}
		}
	}
	if !filepath.IsAbs(src) {
		return nil, &engine.VolumeMount{Name: src, Target: dst, ReadOnly: ro, NoCopy: nocopy}, nil
	}
	if _, err := os.Stat(src); err != nil {
		// Docker creates a missing -v source directory; --mount refuses.
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, nil, errdefs.Invalid(fmt.Sprintf("bind source %q: %v", src, err))
		}
	}
	return oci.WithBindMount(src, dst, ro), nil, nil
}

// volumeMount reads a --mount type=volume.
func volumeMount(m mount.Mount) (engine.VolumeMount, error) {
	vm := engine.VolumeMount{Name: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	if m.Target == "" {
		return vm, errdefs.Invalid("invalid mount config for type \"volume\": field Target must not be empty")
	}
	if vo := m.VolumeOptions; vo != nil {
		vm.NoCopy = vo.NoCopy
		vm.Labels = vo.Labels
		if vo.DriverConfig != nil && vo.DriverConfig.Name != "" && vo.DriverConfig.Name != "local" {
			return vm, errdefs.NotFound(fmt.Sprintf("error looking up volume plugin %s: plugin %q not found", vo.DriverConfig.Name, vo.DriverConfig.Name))
		}
		if vo.DriverConfig != nil && len(vo.DriverConfig.Options) > 0 {
			return vm, errdefs.NotImplemented("invalid mount config for type \"volume\": volume driver options are not supported")
		}
	}
	return vm, nil
}

// anonymousVolumes are Config.Volumes (docker run -v /path) that no bind
// or mount covers.
func anonymousVolumes(vols map[string]struct{}, hc *container.HostConfig) []engine.VolumeMount {
	covered := map[string]bool{}
	for _, b := range hc.Binds {
		if parts := strings.Split(b, ":"); len(parts) >= 2 {
			covered[filepath.Clean(parts[1])] = true
		} else {
			covered[filepath.Clean(b)] = true
		}
	}
	for _, m := range hc.Mounts {
		covered[filepath.Clean(m.Target)] = true
	}
	for t := range hc.Tmpfs {
		covered[filepath.Clean(t)] = true
	}
	var out []engine.VolumeMount
	for _, p := range slices.Sorted(maps.Keys(vols)) {
		if !covered[filepath.Clean(p)] {
			out = append(out, engine.VolumeMount{Target: p})
		}
	}
	return out
}

// mountSpec reads a --mount.
func mountSpec(m mount.Mount) (oci.SpecOpt, error) {
	switch m.Type {
	case mount.TypeBind:
		if !filepath.IsAbs(m.Source) {
			return nil, errdefs.Invalid(fmt.Sprintf("invalid mount config for type \"bind\": invalid mount path: %q mount path must be absolute", m.Source))
		}
		if _, err := os.Stat(m.Source); err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source))
		}
		return oci.WithBindMount(m.Source, m.Target, m.ReadOnly), nil
	case mount.TypeTmpfs:
		var opts []string
		if m.TmpfsOptions != nil {
			if m.TmpfsOptions.SizeBytes > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.TmpfsOptions.SizeBytes, 10))
			}
			if m.TmpfsOptions.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", m.TmpfsOptions.Mode))
			}
		}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		return oci.WithTmpfs(m.Target, strings.Join(opts, ",")), nil
	}
	return nil, errdefs.Invalid(fmt.Sprintf("invalid mount config: mount type unknown: %q", m.Type))
}
