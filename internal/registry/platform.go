package registry

import (
	"runtime"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func defaultArch() string { return runtime.GOARCH }

// pick returns the first entry of an index for platform: same OS and
// architecture, and the same variant when platform names one.
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
	return ocispec.Descriptor{}, false
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
