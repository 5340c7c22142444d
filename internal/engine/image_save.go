package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image/archive"
)

// SaveImages writes the images refs name to w as one archive (format
// archive.FormatDocker: a docker-archive that is also an OCI layout). An
// image named by name is saved with that name; one named by ID without.
func (e *Engine) SaveImages(ctx context.Context, w io.Writer, refs []string, format archive.Format) error {
	if len(refs) == 0 {
		return errdefs.Invalid("save: no image given")
	}
	var imgs []archive.Image
	byID := map[digest.Digest]int{}
	for _, ref := range refs {
		ir, img, err := e.resolveImage(ctx, ref)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		md := img.Descriptor()
		i, ok := byID[md.Digest]
		if !ok {
			i = len(imgs)
			byID[md.Digest] = i
			a := archive.Image{Manifest: md, Config: img.Manifest().Config}
			for _, l := range img.Layers() {
				a.Layers = append(a.Layers, l.Descriptor())
			}
			imgs = append(imgs, a)
		}
		if normalizeRef(ref) == ir.Name {
			if n, err := reference.ParseNormalizedNamed(ir.Name); err == nil {
				imgs[i].RepoTags = append(imgs[i].RepoTags, ir.Name)
				imgs[i].FullNames = append(imgs[i].FullNames, n.String())
			}
		}
	}
	open := func(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
		ra, err := e.content.ReaderAt(ctx, d)
		if err != nil {
			return nil, err
		}
		return readCloser{io.NewSectionReader(ra, 0, ra.Size()), ra}, nil
	}
	if err := archive.Write(ctx, w, open, imgs, format); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
