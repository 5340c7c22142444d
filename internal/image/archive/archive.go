// Package archive reads and writes image archives: the docker-archive
// format of docker save (manifest.json naming each image's config and
// layer files) and the OCI image layout in a tar (index.json, oci-layout,
// blobs/sha256/...). Write makes one tar that is both, as docker 25+ does;
// Load reads either into a content store, verifying every digest.
// WriteLayoutDir, FilterOCI and LayoutTar turn such a tar into an OCI image
// layout directory or a pure OCI archive and a directory back into a tar.
package archive

import (
	"fmt"
	"path"
	"strings"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Bounds on what Load accepts from an archive.
const (
	maxEntries  = 100000  // tar headers
	maxJSONSize = 8 << 20 // manifest.json, index.json, a manifest or a config
	maxImages   = 1000    // images in one archive
	maxLayers   = 128     // layers of one image, as image.Load
)

// Media types of docker's schema 2 manifests, which archives still carry.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
)

// Annotations that name an image in an OCI index.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// manifestEntry is one image of docker-archive's manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// cleanPath checks the name of an entry of the archive and gives its clean
// form: relative, with no ".." component.
func cleanPath(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") {
		return "", errdefs.Invalid(fmt.Sprintf("archive entry %q: absolute or empty path", name))
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errdefs.Invalid(fmt.Sprintf("archive entry %q: path leaves the archive", name))
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", errdefs.Invalid(fmt.Sprintf("archive entry %q: empty path", name))
	}
	return p, nil
}
