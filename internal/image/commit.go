package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// AppendOptions describe the layer Append puts on an image.
type AppendOptions struct {
	Config    ocispec.ImageConfig // the new image's config (Cmd, Env, ...)
	Created   time.Time           // zero: now
	Author    string
	CreatedBy string // the history entry's created_by
	Comment   string
}

// Append stores a new image: base's layers with the uncompressed layer tar
// on top (gzip-compressed into the store), base's config with the new diff
// ID, a history entry and opts.Config, and a manifest; it returns the
// manifest's descriptor. base is not changed.
func Append(ctx context.Context, cs *content.Store, base Image, layerTar io.Reader, opts AppendOptions) (ocispec.Descriptor, error) {
	layerDesc, diffID, err := writeGzipLayer(ctx, cs, layerTar)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cfg := base.Config()
	cfg.Created = &created
	cfg.Author = opts.Author
	cfg.Config = opts.Config
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(slices.Clone(cfg.RootFS.DiffIDs), diffID)
	cfg.History = append(slices.Clone(cfg.History), ocispec.History{
		Created: &created, CreatedBy: opts.CreatedBy, Author: opts.Author, Comment: opts.Comment,
	})
	cfgDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
	}
	var layers []ocispec.Descriptor
	for _, l := range base.Layers() {
		layers = append(layers, l.Descriptor())
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    append(layers, layerDesc),
	}
	mDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest: %w", err)
	}
	return mDesc, nil
}

// ApplyChanges returns base with docker's --change instructions applied
// (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME,
// STOPSIGNAL), as docker import and docker commit read them. base is not
// changed. CMD and ENTRYPOINT take a JSON array or a shell form.
func ApplyChanges(base ocispec.ImageConfig, changes []string) (ocispec.ImageConfig, error) {
	cfg := base
	cfg.Env = slices.Clone(base.Env)
	cfg.Labels = maps.Clone(base.Labels)
	cfg.ExposedPorts = maps.Clone(base.ExposedPorts)
	cfg.Volumes = maps.Clone(base.Volumes)
	for _, ch := range changes {
		ch = strings.TrimSpace(ch)
		if ch == "" {
			continue
		}
		op, arg, _ := strings.Cut(ch, " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(op) {
		case "CMD", "ENTRYPOINT":
			var args []string
			if strings.HasPrefix(arg, "[") {
				if err := json.Unmarshal([]byte(arg), &args); err != nil {
					return cfg, errdefs.Invalid(fmt.Sprintf("change %q: %v", ch, err))
				}
			} else {
				args = []string{"/bin/sh", "-c", arg}
			}
			if strings.EqualFold(op, "CMD") {
				cfg.Cmd = args
			} else {
				cfg.Entrypoint = args
			}
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				k, v, _ = strings.Cut(arg, " ")
			}
			k = strings.TrimSpace(k)
			cfg.Env = slices.DeleteFunc(cfg.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
			cfg.Env = append(cfg.Env, k+"="+strings.Trim(strings.TrimSpace(v), `"`))
		case "WORKDIR":
			cfg.WorkingDir = arg
		case "USER":
			cfg.User = arg
		case "STOPSIGNAL":
			cfg.StopSignal = arg
		case "LABEL":
			k, v, _ := strings.Cut(arg, "=")
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[strings.Trim(k, `"`)] = strings.Trim(v, `"`)
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(arg) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			for _, v := range strings.Fields(strings.Trim(arg, "[]")) {
				cfg.Volumes[strings.Trim(v, `",`)] = struct{}{}
			}
		default:
			return cfg, errdefs.Invalid(fmt.Sprintf("%s is not a valid change command", op))
		}
	}
	return cfg, nil
}
