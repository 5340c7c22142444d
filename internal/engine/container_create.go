package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/cleanup"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/oci"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// CreateOptions describe a container to create.
type CreateOptions struct {
	// Name is unique among containers; "": one is made from the ID.
	Name string
	// Image is a reference ("busybox", "busybox:latest") or an image ID.
	Image string
	// Cmd replaces the image's CMD (nil: the image's).
	Cmd []string
	// Env adds to the image's environment.
	Env []string
	// Tty gives the container a terminal.
	Tty bool
	// SpecOpts are applied after the engine's own, in order.
	SpecOpts []oci.SpecOpt

	// Labels of the container (also set as annotations of its spec).
	Labels map[string]string
	// OpenStdin keeps the container's stdin open for attach; StdinOnce
	// closes it when the first attached client detaches.
	OpenStdin bool
	StdinOnce bool
	// Restart is the restart policy; AutoRemove removes the container
	// when it exits (docker run --rm). The two exclude each other.
	Restart    RestartPolicy
	AutoRemove bool
	// Healthcheck overrides the image's (nil: the image's).
	Healthcheck *HealthConfig
	// StopSignal overrides the image's; StopTimeout (seconds) the
	// engine's default of 10 for stop and restart.
	StopSignal  string
	StopTimeout *int
	// Runtime names one of Config.Runtimes ("": the default).
	Runtime string
	// Log bounds the json-file log (zero: the engine's default).
	Log LogConfig
	// Extensions are stored with the container for the front door.
	Extensions map[string]json.RawMessage
	// Volumes to mount; the image's VOLUMEs that no mount covers get
	// anonymous volumes.
	Volumes []VolumeMount
	// Network says how the container is networked (zero: the default
	// bridge network).
	Network NetworkOptions
	// VolumesFrom mounts the volumes of other containers:
	// "<name|id>[:ro|:rw]" (docker run --volumes-from).
	VolumesFrom []string
}

// validName is Docker's rule for container names.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create makes a container from an image: a writable snapshot on the
// image's layers mounted as its root, a bundle, and its record. On error
// nothing of it is left.
func (e *Engine) Create(ctx context.Context, opts CreateOptions) (_ Info, retErr error) {
	id, err := newID()
	if err != nil {
		return Info{}, err
	}
	name := opts.Name
	if name == "" {
		name = "capsa_" + id[:12]
	}
	if !validName.MatchString(name) {
		return Info{}, invalidName(name)
	}
	if name[0] == '/' {
		name = name[1:]
	}
	if err := e.nameFree(name); err != nil {
		return Info{}, err
	}
	fail := func(err error) error { return fmt.Errorf("create container %q: %w", name, err) }
	if err := opts.Restart.validate(); err != nil {
		return Info{}, fail(err)
	}
	if opts.AutoRemove && opts.Restart.Name != "" && opts.Restart.Name != RestartNo {
		return Info{}, errdefs.Invalid(fmt.Sprintf("create container %q: conflicting options: cannot both remove the container when it exits (--rm) and restart it (--restart %s)", name, opts.Restart.Name))
	}
	if err := opts.Healthcheck.validate(); err != nil {
		return Info{}, fail(err)
	}
	if err := checkVolumeMounts(opts.Volumes); err != nil {
		return Info{}, err
	}
	if len(opts.VolumesFrom) > 0 {
		if opts.Volumes, err = e.volumesFrom(opts.VolumesFrom, opts.Volumes); err != nil {
			return Info{}, fail(err)
		}
	}
	netKind, _, netOther, err := e.resolveNetworks(opts.Network)
	if err != nil {
		return Info{}, fail(err)
	}
	if netKind == netContainer {
		if _, err := e.lookup(netOther); err != nil {
			return Info{}, fail(err)
		}
	}
	if netKind == netBridge {
		if err := checkPorts(opts.Network.Ports); err != nil {
			return Info{}, fail(err)
		}
	} else {
		opts.Network.Ports = nil // docker discards them outside bridge networks
	}
	if err := opts.Network.validate(); err != nil {
		return Info{}, fail(err)
	}
	runtime := opts.Runtime
	if runtime == "" {
		runtime = e.cfg.DefaultRuntime
	}
	if _, ok := e.cfg.Runtimes[runtime]; !ok {
		return Info{}, errdefs.Invalid(fmt.Sprintf("create container %q: unknown or invalid runtime name: %s", name, runtime))
	}
	if opts.StopSignal != "" {
		if _, err := oci.ParseSignal(opts.StopSignal); err != nil {
			return Info{}, errdefs.Invalid(fmt.Sprintf("create container %q: invalid stop signal %q", name, opts.StopSignal))
		}
	}
	logCfg := opts.Log
	if logCfg == (LogConfig{}) {
		logCfg = e.cfg.Log
	}

	ref, img, err := e.resolveImage(ctx, opts.Image)
	if err != nil {
		return Info{}, fail(err)
	}
	e.unpackMu.Lock()
	chain, err := image.Unpack(ctx, img, e.snap, image.DefaultLimits)
	e.unpackMu.Unlock()
	if err != nil {
		return Info{}, fail(err)
	}

	cu := cleanup.Make()
	defer cu.Clean()
	bundle, state, rootfs := e.bundleDir(id), e.stateDir(id), e.rootfsDir(id)
	for _, d := range []string{bundle, state} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return Info{}, fail(err)
		}
		cu.Add(func() { os.RemoveAll(d) })
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return Info{}, fail(err)
	}
	mounts, err := e.snap.Prepare(ctx, id, string(chain))
	if err != nil {
		return Info{}, fail(err)
	}
	cu.Add(func() { _ = e.snap.Remove(context.WithoutCancel(ctx), id) })
	if err := snapshot.MountAll(mounts, rootfs); err != nil {
		return Info{}, fail(err)
	}
	cu.Add(func() { _ = snapshot.UnmountAll(rootfs) })

	so := []oci.SpecOpt{
		oci.WithRootfs(rootfs, false),
		oci.WithImageConfig(img.Config().Config),
		oci.WithTTY(opts.Tty),
	}
	if opts.Cmd != nil {
		so = append(so, oci.WithCommand(opts.Cmd...))
	}
	if len(opts.Env) > 0 {
		so = append(so, oci.WithEnv(opts.Env))
	}
	if len(opts.Labels) > 0 {
		so = append(so, oci.WithLabels(opts.Labels))
	}
	so = append(so, opts.SpecOpts...)
	// The hostname is the short ID unless -h gave one: after the caller's
	// options, so that HOSTNAME in the environment is the real one.
	so = append(so, func(ctx context.Context, s *specs.Spec) error {
		if s.Hostname != "" {
			return nil
		}
		if netKind == netHost {
			if h, err := os.Hostname(); err == nil {
				return oci.WithHostname(h)(ctx, s)
			}
		}
		return oci.WithHostname(id[:12])(ctx, s)
	})
	so = append(so, e.withNetwork(id, netKind))
	so = append(so, oci.WithCgroupsPath("/capsa/"+id))
	spec, err := oci.Generate(ctx, so...)
	if err != nil {
		return Info{}, fail(err)
	}
	if opts.Network.PublishAll && netKind == netBridge {
		opts.Network.Ports = publishExposed(opts.Network.Ports, img.Config().Config.ExposedPorts)
		opts.Network.PublishAll = false
	}
	vols, err := e.attachVolumes(ctx, cu, id, rootfs, spec, opts.Volumes, img.Config().Config.Volumes)
	if err != nil {
		return Info{}, fail(err)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return Info{}, fail(err)
	}
	// The /etc files exist from now on (bound at start, rewritten then
	// in place with the container's addresses).
	if err := e.writeEtc(id, spec.Hostname, netKind, opts.Network, nil); err != nil {
		return Info{}, fail(err)
	}
	if err := atomicfile.Write(bundle+"/config.json", data, 0o600); err != nil {
		return Info{}, fail(err)
	}

	rec := record{
		ID: id, Name: name, Image: opts.Image, ImageID: ref.ID, Created: time.Now().UTC(),
		Cmd: spec.Process.Args, Env: configEnv(spec.Process.Env, img.Config().Config.Env, opts.Env), Tty: opts.Tty,
		StopSignal: spec.Annotations[oci.AnnotationStopSignal],
		State:      State{Status: StatusCreated},
		Labels:     opts.Labels, OpenStdin: opts.OpenStdin, StdinOnce: opts.StdinOnce,
		Restart: opts.Restart, AutoRemove: opts.AutoRemove,
		StopTimeout: opts.StopTimeout, Runtime: runtime, Log: logCfg,
		Extensions: opts.Extensions, Volumes: vols, Network: opts.Network, Hostname: spec.Hostname,
		ExposedPorts: slices.Sorted(maps.Keys(img.Config().Config.ExposedPorts)),
	}
	if opts.StopSignal != "" {
		rec.StopSignal = opts.StopSignal
	}
	// OCI image configs carry no healthcheck; Docker's image config
	// extension does, and images pulled from registries will bring it.
	rec.Healthcheck = opts.Healthcheck
	if rec.Healthcheck.active() {
		rec.State.Health = &Health{Status: HealthStarting}
	}
	if err := e.insert(rec); err != nil {
		return Info{}, fail(err)
	}
	cu.Release()
	e.mu.Lock()
	c := e.containers[id]
	e.mu.Unlock()
	e.emit(Event{Type: "container", Action: "create", ID: id})
	return c.info(e), nil
}

// nameConflict and invalidName are in dockerd's words, which clients
// (docker-compose, testcontainers) match.
func nameConflict(name, id string) error {
	return errdefs.Conflict(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", "/"+name, id))
}

func invalidName(name string) error {
	return errdefs.Invalid(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
}

// nameFree checks early that no container has name.
func (e *Engine) nameFree(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.names[name]; ok {
		return nameConflict(name, id)
	}
	return nil
}

// insert records rec and its name in one transaction, and indexes it.
func (e *Engine) insert(rec record) error {
	data, err := marshalRecord(rec)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.names[rec.Name]; ok {
		return nameConflict(rec.Name, id)
	}
	err = e.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		if id := names.Get([]byte(rec.Name)); id != nil {
			return nameConflict(rec.Name, string(id))
		}
		if err := names.Put([]byte(rec.Name), []byte(rec.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Put([]byte(rec.ID), data)
	})
	if err != nil {
		if errors.Is(err, errdefs.ErrConflict) {
			return err
		}
		return fmt.Errorf("record container: %w", err)
	}
	e.containers[rec.ID] = newContainer(rec)
	e.names[rec.Name] = rec.ID
	return nil
}

// deleteRecord removes c's record and name. Preconditions: c.opMu held.
func (e *Engine) deleteRecord(c *Container) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	id, name := c.rec.ID, c.rec.Name
	err := e.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNames).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	delete(e.containers, id)
	if e.names[name] == id {
		delete(e.names, name)
	}
	c.removed = true
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// configEnv is the environment docker's Config.Env shows: the process's
// without HOSTNAME and TERM, which dockerd adds when the container starts
// unless the image or the user set them.
func configEnv(env, imageEnv, userEnv []string) []string {
	set := func(name string) bool {
		for _, e := range slices.Concat(imageEnv, userEnv) {
			if k, _, _ := strings.Cut(e, "="); k == name {
				return true
			}
		}
		return false
	}
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if (k == "HOSTNAME" || k == "TERM") && !set(k) {
			continue
		}
		out = append(out, e)
	}
	return out
}
