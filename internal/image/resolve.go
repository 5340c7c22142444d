package image

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

const (
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	maxIndexSize                = 4 << 20
	maxIndexDepth               = 4
)

// DefaultPlatform is this machine's: linux and the Go architecture.
func DefaultPlatform() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Resolve follows desc through image indexes (OCI indexes and Docker
// manifest lists, nested at most a few deep) to the manifest for platform,
// and returns that manifest's descriptor. A manifest is returned as it is.
func Resolve(ctx context.Context, cs *content.Store, desc ocispec.Descriptor, platform ocispec.Platform) (ocispec.Descriptor, error) {
	for depth := 0; ; depth++ {
		switch desc.MediaType {
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			return desc, nil
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		default:
			return ocispec.Descriptor{}, errdefs.NotImplemented(fmt.Sprintf("resolve %s: media type %q not supported", desc.Digest, desc.MediaType))
		}
		if depth == maxIndexDepth {
			return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("resolve %s: indexes nested more than %d deep", desc.Digest, maxIndexDepth))
		}
		b, err := cs.ReadAll(ctx, desc.Digest, maxIndexSize)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("index %s: %v", desc.Digest, err))
		}
		next, ok := pick(idx.Manifests, platform)
		if !ok {
			var have []string
			for _, m := range idx.Manifests {
				if m.Platform != nil {
					have = append(have, platformString(*m.Platform))
				}
			}
			return ocispec.Descriptor{}, errdefs.NotFound(fmt.Sprintf("index %s: no manifest for %s (has %s)",
				desc.Digest, platformString(platform), strings.Join(have, ", ")))
		}
		desc = next
	}
}

// pick returns the first entry for platform: same OS and architecture, and
// the same variant when platform names one. Failing that, it descends into
// the first nested index without a platform.
func pick(ms []ocispec.Descriptor, p ocispec.Platform) (ocispec.Descriptor, bool) {
	for _, m := range ms {
		if m.Platform == nil {
			continue
		}
		if m.Platform.OS == p.OS && m.Platform.Architecture == p.Architecture &&
			(p.Variant == "" || m.Platform.Variant == p.Variant) {
			return m, true
		}
	}
	for _, m := range ms {
		if m.Platform == nil && (m.MediaType == ocispec.MediaTypeImageIndex || m.MediaType == mediaTypeDockerManifestList) {
			return m, true
		}
	}
	return ocispec.Descriptor{}, false
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
