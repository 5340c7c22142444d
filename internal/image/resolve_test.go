package image

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	cs, err := content.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(name string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(name), Size: 1}
	}
	amd64, arm64v8, arm := manifest("amd64"), manifest("arm64"), manifest("arm")
	amd64.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64v8.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	index := func(ms ...ocispec.Descriptor) ocispec.Descriptor {
		b, _ := jsonBytes(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: ms})
		return put(t, cs, ocispec.MediaTypeImageIndex, b)
	}
	unknown := manifest("attestation")
	unknown.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	top := index(unknown, amd64, arm64v8, arm)
	nested := index(top)
	deep := nested
	for range maxIndexDepth {
		deep = index(deep)
	}
	tests := []struct {
		name     string
		desc     ocispec.Descriptor
		platform ocispec.Platform
		want     digest.Digest
		wantErr  error
	}{
		{"a manifest is itself", amd64, ocispec.Platform{OS: "linux", Architecture: "s390x"}, amd64.Digest, nil},
		{"amd64", top, ocispec.Platform{OS: "linux", Architecture: "amd64"}, amd64.Digest, nil},
		{"arm64 any variant", top, ocispec.Platform{OS: "linux", Architecture: "arm64"}, arm64v8.Digest, nil},
		{"arm v7", top, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, arm.Digest, nil},
		{"arm v6 missing", top, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "", errdefs.ErrNotFound},
		{"nested", nested, ocispec.Platform{OS: "linux", Architecture: "amd64"}, amd64.Digest, nil},
		{"too deep", deep, ocispec.Platform{OS: "linux", Architecture: "amd64"}, "", errdefs.ErrInvalid},
		{"index not stored", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("none")}, DefaultPlatform(), "", errdefs.ErrNotFound},
		{"a layer", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("l")}, DefaultPlatform(), "", errdefs.ErrNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(ctx, cs, tt.desc, tt.platform)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve = %v, %v; want %v", got.Digest, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Digest != tt.want {
				t.Fatalf("Resolve = %v, %v; want %v", got.Digest, err, tt.want)
			}
		})
	}
	_, err = Resolve(ctx, cs, top, ocispec.Platform{OS: "linux", Architecture: "riscv64"})
	if !strings.Contains(err.Error(), "no manifest for linux/riscv64 (has unknown/unknown, linux/amd64, linux/arm64/v8, linux/arm/v7)") {
		t.Errorf("error = %v, want it to list the platforms", err)
	}
}
