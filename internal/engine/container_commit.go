package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/archive"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
)

// CommitOptions shape the image CommitContainer makes.
type CommitOptions struct {
	// Name is the new image's REPOSITORY[:TAG]; "" keeps the image
	// dangling (<none>:<none>), as docker commit without a name does.
	Name    string
	Author  string
	Message string
	// Changes are docker's --change instructions (CMD, ENV, ...), applied
	// after Config.
	Changes []string
	// Config, when set, overrides the fields it sets (the Docker API's
	// commit body).
	Config *ocispec.ImageConfig
	// Pause freezes a running container while its layer is read, as
	// docker commit --pause (the default there).
	Pause bool
}

// CommitContainer makes a new image of container ref: its image's layers
// with the container's writable layer on top (overlay whiteouts and
// opaque directories written as OCI whiteouts), its image's config with
// the container's command and environment, opts.Config and opts.Changes
// applied, and a history entry; the image is named opts.Name (an image
// that name pointed at is kept, dangling, if nothing else names it), or
// kept dangling without a name.
func (e *Engine) CommitContainer(ctx context.Context, ref string, opts CommitOptions) (ImageRef, error) {
	name := ""
	if opts.Name != "" {
		n, err := reference.ParseNormalizedNamed(opts.Name)
		if err != nil {
			return ImageRef{}, errdefs.Invalid(fmt.Sprintf("commit container %q: invalid reference format: %v", ref, err))
		}
		if _, ok := n.(reference.Digested); ok {
			return ImageRef{}, errdefs.Invalid(fmt.Sprintf("commit container %q: refusing to create a tag with a digest reference", ref))
		}
		name = reference.FamiliarString(reference.TagNameOnly(n))
	}
	c, err := e.lookup(ref)
	if err != nil {
		return ImageRef{}, err
	}
	// opMu keeps the container from being started, stopped or removed
	// while its layer is read.
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	id, imageID, cmd, env := c.rec.ID, c.rec.ImageID, slices.Clone(c.rec.Cmd), slices.Clone(c.rec.Env)
	c.mu.Unlock()

	_, base, err := e.resolveImage(ctx, imageID)
	if err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
	}
	cfg := commitConfig(base.Config().Config, cmd, env)
	if opts.Config != nil {
		overrideConfig(&cfg, *opts.Config)
	}
	if cfg, err = image.ApplyChanges(cfg, opts.Changes); err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
	}

	fs, err := e.Filesystem(ctx, id)
	if err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
	}
	if fs.Upper == "" {
		return ImageRef{}, fmt.Errorf("commit container %s: no writable layer found", shortID(id))
	}
	if opts.Pause && c.status() == StatusRunning {
		if err := e.runtimeFreeze(ctx, c, "pause"); err != nil {
			return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
		}
		defer func() {
			// Resume even when ctx is done: the container must not stay
			// frozen because the client went away.
			if err := e.runtimeFreeze(context.WithoutCancel(ctx), c, "resume"); err != nil {
				e.log.Warn("commit: resume container", "container", id, "err", err)
			}
		}()
	}
	layer, err := archive.Layer(ctx, fs.Upper)
	if err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
	}
	desc, err := image.Append(ctx, e.content, base, layer, image.AppendOptions{
		Config: cfg, Author: opts.Author, Comment: opts.Message, CreatedBy: strings.Join(cmd, " "),
	})
	layer.Close()
	if err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: %w", shortID(id), err)
	}
	if err := e.nameImage(ctx, name, desc); err != nil {
		return ImageRef{}, fmt.Errorf("commit container %s: image %q: %w", shortID(id), name, err)
	}
	e.emit(Event{Type: "container", Action: "commit", ID: id, Attributes: map[string]string{"imageID": desc.Digest.String(), "name": name}})
	return ImageRef{Name: name, ID: desc.Digest.String()}, nil
}

// commitConfig is the image config docker commit starts from: the
// image's, with the container's environment and its command (what follows
// the image's entrypoint in the process's arguments).
func commitConfig(img ocispec.ImageConfig, cmd, env []string) ocispec.ImageConfig {
	cfg := img
	if len(env) > 0 {
		cfg.Env = env
	}
	if len(cmd) > 0 {
		if ep := img.Entrypoint; len(ep) > 0 && len(cmd) >= len(ep) && slices.Equal(cmd[:len(ep)], ep) {
			cfg.Cmd = slices.Clone(cmd[len(ep):])
		} else if len(ep) == 0 {
			cfg.Cmd = cmd
		}
	}
	return cfg
}

// overrideConfig sets in cfg the fields o sets.
func overrideConfig(cfg *ocispec.ImageConfig, o ocispec.ImageConfig) {
	if o.User != "" {
		cfg.User = o.User
	}
	if o.WorkingDir != "" {
		cfg.WorkingDir = o.WorkingDir
	}
	if o.StopSignal != "" {
		cfg.StopSignal = o.StopSignal
	}
	if o.Cmd != nil {
		cfg.Cmd = o.Cmd
	}
	if o.Entrypoint != nil {
		cfg.Entrypoint = o.Entrypoint
	}
	if o.Env != nil {
		cfg.Env = o.Env
	}
	if o.Labels != nil {
		cfg.Labels = o.Labels
	}
	if o.ExposedPorts != nil {
		cfg.ExposedPorts = o.ExposedPorts
	}
	if o.Volumes != nil {
		cfg.Volumes = o.Volumes
	}
}
