package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/registry"
)

// PullProgress is one message of a pull, as docker's progress stream has
// them: a layer's step (ID is its short digest) or a line about the image
// (ID empty).
type PullProgress = registry.Progress

// PullImage fetches the image ref names ("busybox" means
// docker.io/library/busybox:latest) for platform (zero: this machine's)
// and names it ref in its familiar form, with auth (nil: the daemon's
// keychain). It also records the repo digest NAME@<digest of the manifest
// or index> (a pull by digest records only that); a tag that moves keeps
// the image it named, dangling, when nothing else names it. progress,
// when set, hears of each step and of the final "Digest:" and "Status:"
// lines; it may be called from several goroutines at once.
func (e *Engine) PullImage(ctx context.Context, ref string, platform ocispec.Platform, auth *RegistryAuth, progress func(PullProgress)) (ImageRef, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ImageRef{}, errdefs.Invalid(fmt.Sprintf("pull %s: invalid reference format: %v", ref, err))
	}
	if d, ok := named.(reference.Digested); ok {
		// NAME:TAG@DIGEST pulls the digest, as docker does.
		if named, err = reference.WithDigest(reference.TrimNamed(named), d.Digest()); err != nil {
			return ImageRef{}, errdefs.Invalid(fmt.Sprintf("pull %s: %v", ref, err))
		}
	}
	named = reference.TagNameOnly(named)
	familiar := reference.FamiliarString(named)
	if platform.OS == "" {
		platform = image.DefaultPlatform()
	}
	unpacker := image.NewUnpacker(e.snap, image.DefaultLimits)
	defer unpacker.Close(context.WithoutCancel(ctx))
	res, err := registry.Pull(ctx, e.content, named, registry.Options{
		Insecure: e.cfg.InsecureRegistries,
		Platform: platform,
		Auth:     auth,
		Progress: progress,
		Layers:   unpacker,
	})
	if err != nil {
		return ImageRef{}, err
	}
	if err := e.unpackPulled(ctx, unpacker, res.Target, platform); err != nil {
		return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
	}
	prev, err := e.images.Get(ctx, familiar)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
	}
	same := err == nil && prev.Target.Digest == res.Target.Digest
	if !same {
		if err := e.nameImage(ctx, familiar, res.Target); err != nil {
			return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
		}
		e.emit(Event{Type: "image", Action: "pull", ID: familiar, Attributes: map[string]string{"name": familiar}})
	}
	if err := e.recordRepoDigest(ctx, named, res.Target.Digest, res.Target); err != nil {
		return ImageRef{}, fmt.Errorf("pull %s: %w", familiar, err)
	}
	if progress != nil {
		progress(PullProgress{Status: "Digest: " + res.Target.Digest.String()})
		if same {
			progress(PullProgress{Status: "Status: Image is up to date for " + familiar})
		} else {
			progress(PullProgress{Status: "Status: Downloaded newer image for " + familiar})
		}
	}
	return ImageRef{Name: familiar, ID: res.Target.Digest.String()}, nil
}

// recordRepoDigest names target also NAME@d (NAME is named's repository
// in its familiar form): the repo digest image inspect shows.
func (e *Engine) recordRepoDigest(ctx context.Context, named reference.Named, d digest.Digest, target ocispec.Descriptor) error {
	c, err := reference.WithDigest(reference.TrimNamed(named), d)
	if err != nil {
		return errdefs.Invalid(err.Error())
	}
	name := reference.FamiliarString(c)
	if rec, err := e.images.Get(ctx, name); err == nil && rec.Target.Digest == target.Digest {
		return nil
	}
	return e.nameImage(ctx, name, target)
}

// ParsePlatform reads a platform as docker's platform query parameter and
// --platform flag give it (containerd's syntax): os/arch[/variant], or a
// single os or architecture, normalised ("x86_64" is amd64, "aarch64"
// arm64). The error is containerd's, which dockerd answers with a 400.
func ParsePlatform(s string) (ocispec.Platform, error) {
	invalid := func(msg string) error {
		return errdefs.Invalid(fmt.Sprintf("%q: %s: invalid argument", s, msg))
	}
	parts := strings.Split(s, "/")
	for _, part := range parts {
		if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
			return ocispec.Platform{}, errdefs.Invalid(fmt.Sprintf("%q is an invalid component of %q: platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument", part, s))
		}
	}
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		if os := normalizeOS(parts[0]); knownOS[os] {
			return ocispec.Platform{OS: os, Architecture: runtime.GOARCH}, nil
		}
		p.Architecture, p.Variant = normalizeArch(parts[0], "")
		if !knownArch[p.Architecture] {
			return ocispec.Platform{}, invalid("unknown operating system or architecture")
		}
		p.OS = "linux"
	case 2:
		p.OS = normalizeOS(parts[0])
		p.Architecture, p.Variant = normalizeArch(parts[1], "")
	case 3:
		p.OS = normalizeOS(parts[0])
		p.Architecture, p.Variant = normalizeArch(parts[1], parts[2])
	default:
		return ocispec.Platform{}, invalid("cannot parse platform specifier")
	}
	return p, nil
}

var (
	knownOS   = map[string]bool{"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "hurd": true, "illumos": true, "ios": true, "js": true, "linux": true, "nacl": true, "netbsd": true, "openbsd": true, "plan9": true, "solaris": true, "windows": true, "zos": true, "wasip1": true}
	knownArch = map[string]bool{"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true, "arm64be": true, "ppc64": true, "ppc64le": true, "loong64": true, "mips": true, "mipsle": true, "mips64": true, "mips64le": true, "mips64p32": true, "mips64p32le": true, "ppc": true, "riscv": true, "riscv64": true, "s390": true, "s390x": true, "sparc": true, "sparc64": true, "wasm": true}
)

func normalizeOS(os string) string {
	os = strings.ToLower(os)
	if os == "macos" {
		return "darwin"
	}
	return os
}

// normalizeArch is containerd's: the names uname and distributions use
// mapped to Go's, and the variants each architecture implies.
func normalizeArch(arch, variant string) (string, string) {
	arch, variant = strings.ToLower(arch), strings.ToLower(variant)
	switch arch {
	case "i386":
		return "386", ""
	case "x86_64", "x86-64", "amd64":
		if variant == "v1" {
			variant = ""
		}
		return "amd64", variant
	case "aarch64", "arm64":
		if variant == "8" || variant == "v8" || variant == "v8.0" {
			variant = ""
		}
		return "arm64", variant
	case "armhf":
		return "arm", "v7"
	case "armel":
		return "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
		return "arm", variant
	}
	return arch, variant
}
