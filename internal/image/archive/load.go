package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Loaded is one image Load stored: its manifest and the names the archive
// gives it (as written there: "busybox:latest" or a full name).
type Loaded struct {
	Manifest ocispec.Descriptor
	Names    []string
}

// Load reads the docker-archive or OCI archive tar r into cs and returns
// its images. Files are spooled under tmpDir (removed on return). Every
// blob is checked against its digest and every layer against the config's
// diff ID before anything is reported; blobs written before an error are
// unreferenced garbage that the next GC collects.
func Load(ctx context.Context, cs *content.Store, r io.Reader, tmpDir string) ([]Loaded, error) {
	sp, err := os.MkdirTemp(tmpDir, "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(sp)
	a, err := spool(ctx, r, sp)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	l := &loader{cs: cs, a: a}
	var entries []manifestEntry
	if a.has("manifest.json") {
		if err := a.readJSON("manifest.json", &entries); err != nil {
			return nil, err
		}
		if len(entries) > maxImages {
			return nil, errdefs.Invalid(fmt.Sprintf("load: manifest.json: %d images, more than %d", len(entries), maxImages))
		}
	}
	if a.has("index.json") {
		return l.loadOCI(ctx, entries)
	}
	if !a.has("manifest.json") {
		return nil, errdefs.Invalid("load: archive has neither manifest.json nor index.json")
	}
	var out []Loaded
	for _, e := range entries {
		d, err := l.loadDocker(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("load image %s: %w", entryName(e), err)
		}
		out = append(out, Loaded{Manifest: d, Names: e.RepoTags})
	}
	return out, nil
}

func entryName(e manifestEntry) string {
	if len(e.RepoTags) > 0 {
		return strconv.Quote(e.RepoTags[0])
	}
	return strconv.Quote(e.Config)
}

// spooled is an archive's regular files, saved to disk under short names.
type spooled struct {
	dir   string
	files map[string]string // clean archive path -> file under dir
	links map[string]string // clean archive path -> clean archive path
}

func spool(ctx context.Context, r io.Reader, dir string) (*spooled, error) {
	a := &spooled{dir: dir, files: map[string]string{}, links: map[string]string{}}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, errdefs.Invalid("empty archive")
			}
			break
		}
		if err != nil {
			return nil, errdefs.Invalid(fmt.Sprintf("read archive: %v", err))
		}
		if n >= maxEntries {
			return nil, errdefs.Invalid(fmt.Sprintf("archive has more than %d entries", maxEntries))
		}
		name, err := cleanPath(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			f := filepath.Join(dir, strconv.Itoa(n))
			if err := copyFile(f, tr); err != nil {
				return nil, fmt.Errorf("archive entry %q: %w", name, err)
			}
			a.files[name] = f
		case tar.TypeSymlink, tar.TypeLink:
			// docker's legacy format links a layer.tar seen twice.
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink {
				if strings.HasPrefix(target, "/") {
					return nil, errdefs.Invalid(fmt.Sprintf("archive entry %q: absolute link %q", name, target))
				}
				target = path.Join(path.Dir(name), target)
			}
			t, err := cleanPath(target)
			if err != nil {
				return nil, errdefs.Invalid(fmt.Sprintf("archive entry %q: link %q leaves the archive", name, hdr.Linkname))
			}
			a.links[name] = t
		default:
			return nil, errdefs.Invalid(fmt.Sprintf("archive entry %q: type %q not allowed", name, hdr.Typeflag))
		}
	}
	return a, nil
}

func copyFile(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resolve follows links (a few hops) to a spooled file.
func (a *spooled) resolve(name string) (string, bool) {
	name = path.Clean(name)
	for i := 0; i < 8; i++ {
		if f, ok := a.files[name]; ok {
			return f, true
		}
		t, ok := a.links[name]
		if !ok {
			return "", false
		}
		name = t
	}
	return "", false
}

func (a *spooled) has(name string) bool { _, ok := a.resolve(name); return ok }

func (a *spooled) open(name string) (*os.File, error) {
	f, ok := a.resolve(name)
	if !ok {
		return nil, errdefs.Invalid(fmt.Sprintf("archive has no file %q", name))
	}
	return os.Open(f)
}

func (a *spooled) read(name string) ([]byte, error) {
	f, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSONSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONSize {
		return nil, errdefs.Invalid(fmt.Sprintf("archive file %q: over %d bytes", name, maxJSONSize))
	}
	return b, nil
}

func (a *spooled) readJSON(name string, v any) error {
	b, err := a.read(name)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.Invalid(fmt.Sprintf("load: %s: %v", name, err))
	}
	return nil
}

type loader struct {
	cs *content.Store
	a  *spooled
}

// blob reads the OCI layout blob d, checked against its digest and size.
func (l *loader) blobBytes(d ocispec.Descriptor) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("descriptor: %v", err))
	}
	b, err := l.a.read(blobPath(d.Digest))
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
		return nil, errdefs.Invalid(fmt.Sprintf("blob %s: content does not match its digest or size", d.Digest))
	}
	return b, nil
}

func (l *loader) loadOCI(ctx context.Context, entries []manifestEntry) ([]Loaded, error) {
	var idx ocispec.Index
	if err := l.a.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	if len(idx.Manifests) > maxImages {
		return nil, errdefs.Invalid(fmt.Sprintf("load: index.json: %d manifests, more than %d", len(idx.Manifests), maxImages))
	}
	// docker-archive's RepoTags, by config file.
	tags := map[string][]string{}
	for _, e := range entries {
		tags[path.Clean(e.Config)] = append(tags[path.Clean(e.Config)], e.RepoTags...)
	}
	var out []Loaded
	byDigest := map[digest.Digest]int{}
	for _, d := range idx.Manifests {
		name := ImageName(d.Annotations)
		label := strconv.Quote(name)
		if name == "" {
			label = d.Digest.String()
		}
		md, cfg, err := l.ociImage(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("load image %s: %w", label, err)
		}
		i, ok := byDigest[md.Digest]
		if !ok {
			i = len(out)
			byDigest[md.Digest] = i
			out = append(out, Loaded{Manifest: md, Names: tags[blobPath(cfg)]})
		}
		// A ref.name alone that is a bare tag ("latest") beside
		// manifest.json's RepoTags is the tag of one of them, as docker
		// 25+ writes it, not a name of its own.
		if name != "" && d.Annotations[annotationImageName] == "" && !strings.ContainsAny(name, ":/") && len(tags[blobPath(cfg)]) > 0 {
			name = ""
		}
		if name != "" {
			if _, err := reference.ParseNormalizedNamed(name); err != nil {
				return nil, errdefs.Invalid(fmt.Sprintf("load image %s: index.json names it %q: %v", d.Digest, name, err))
			}
			out[i].Names = append(out[i].Names, name)
		}
	}
	return out, nil
}

// ociImage stores the image of index entry d (a manifest, or an index of
// which the host's platform is taken) and returns its manifest and config.
func (l *loader) ociImage(ctx context.Context, d ocispec.Descriptor) (ocispec.Descriptor, digest.Digest, error) {
	switch d.MediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		b, err := l.blobBytes(d)
		if err != nil {
			return d, "", err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return d, "", errdefs.Invalid(fmt.Sprintf("index %s: %v", d.Digest, err))
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH && l.a.has(blobPath(m.Digest)) {
				return l.ociImage(ctx, m)
			}
		}
		return d, "", errdefs.NotFound(fmt.Sprintf("index %s: no manifest for %s/%s in the archive", d.Digest, runtime.GOOS, runtime.GOARCH))
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	default:
		return d, "", errdefs.NotImplemented(fmt.Sprintf("manifest %s: media type %q not supported", d.Digest, d.MediaType))
	}
	mb, err := l.blobBytes(d)
	if err != nil {
		return d, "", err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return d, "", errdefs.Invalid(fmt.Sprintf("manifest %s: %v", d.Digest, err))
	}
	if len(m.Layers) > maxLayers {
		return d, "", errdefs.Invalid(fmt.Sprintf("manifest %s: %d layers, more than %d", d.Digest, len(m.Layers), maxLayers))
	}
	cb, err := l.blobBytes(m.Config)
	if err != nil {
		return d, "", fmt.Errorf("config: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return d, "", errdefs.Invalid(fmt.Sprintf("config %s: %v", m.Config.Digest, err))
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return d, "", errdefs.Invalid(fmt.Sprintf("config %s: %d diff_ids for %d layers", m.Config.Digest, len(cfg.RootFS.DiffIDs), len(m.Layers)))
	}
	for i, ld := range m.Layers {
		if err := ld.Digest.Validate(); err != nil {
			return d, "", errdefs.Invalid(fmt.Sprintf("layer %d: %v", i, err))
		}
		gz := false
		switch ld.MediaType {
		case ocispec.MediaTypeImageLayerGzip, mediaTypeDockerLayerGzip:
			gz = true
		case ocispec.MediaTypeImageLayer, mediaTypeDockerLayer:
		default:
			return d, "", errdefs.NotImplemented(fmt.Sprintf("layer %d (%s): media type %q not supported", i, ld.Digest, ld.MediaType))
		}
		comp, diff, size, err := l.digests(blobPath(ld.Digest), gz)
		if comp != "" && (comp != ld.Digest || size != ld.Size) {
			return d, "", errdefs.Invalid(fmt.Sprintf("layer %d (%s): content does not match its digest or size", i, ld.Digest))
		}
		if err != nil {
			return d, "", fmt.Errorf("layer %d (%s): %w", i, ld.Digest, err)
		}
		if diff != cfg.RootFS.DiffIDs[i] {
			return d, "", errdefs.Invalid(fmt.Sprintf("layer %d (%s): content does not match its diff ID %s", i, ld.Digest, cfg.RootFS.DiffIDs[i]))
		}
		if err := l.store(ctx, blobPath(ld.Digest), ld.Digest, ld.Size); err != nil {
			return d, "", fmt.Errorf("layer %d (%s): %w", i, ld.Digest, err)
		}
	}
	if err := content.WriteBlob(ctx, l.cs, "load-"+m.Config.Digest.String(), bytes.NewReader(cb), m.Config.Digest, m.Config.Size); err != nil {
		return d, "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if err := content.WriteBlob(ctx, l.cs, "load-"+d.Digest.String(), bytes.NewReader(mb), d.Digest, d.Size); err != nil {
		return d, "", fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, m.Config.Digest, nil
}

// digests reads the archive file name and gives the digest and size of its
// bytes and the digest of its uncompressed tar (gz: it is gzip; otherwise
// told by its magic when gz is unknown).
func (l *loader) digests(name string, gz bool) (comp, diff digest.Digest, size int64, err error) {
	f, err := l.a.open(name)
	if err != nil {
		return "", "", 0, err
	}
	defer f.Close()
	cd := digest.SHA256.Digester()
	dd := digest.SHA256.Digester()
	cr := &countReader{r: io.TeeReader(f, cd.Hash())}
	var r io.Reader = cr
	// A blob that does not decompress is still read to its end: when its
	// digest is wrong too, that is the error to report (a changed byte,
	// not a mysterious gzip error).
	var zerr error
	if gz {
		zr, err := gzip.NewReader(bufio.NewReader(cr))
		if err != nil {
			zerr = errdefs.Invalid(fmt.Sprintf("gzip: %v", err))
		} else {
			r = zr
		}
	}
	if zerr == nil {
		if _, err := io.Copy(dd.Hash(), r); err != nil {
			zerr = errdefs.Invalid(fmt.Sprintf("read: %v", err))
		}
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return "", "", 0, err
	}
	if zerr != nil {
		return cd.Digest(), "", cr.n, zerr
	}
	return cd.Digest(), dd.Digest(), cr.n, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// store writes the archive file name into the content store as blob dgst.
func (l *loader) store(ctx context.Context, name string, dgst digest.Digest, size int64) error {
	f, err := l.a.open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return content.WriteBlob(ctx, l.cs, "load-"+dgst.String(), f, dgst, size)
}

func isGzip(f io.ReaderAt) bool {
	var m [2]byte
	n, _ := f.ReadAt(m[:], 0)
	return n == 2 && m[0] == 0x1f && m[1] == 0x8b
}

// loadDocker stores the image of a docker-archive entry: the config as
// given, each layer as given when compressed and gzip-compressed when not,
// and a new OCI manifest for them.
func (l *loader) loadDocker(ctx context.Context, e manifestEntry) (ocispec.Descriptor, error) {
	if len(e.Layers) > maxLayers {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("%d layers, more than %d", len(e.Layers), maxLayers))
	}
	cb, err := l.a.read(e.Config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
	}
	cd := digest.FromBytes(cb)
	// The file is named for its digest: "<hex>.json", "sha256:<hex>" or
	// "blobs/sha256/<hex>".
	base := strings.TrimSuffix(strings.TrimPrefix(path.Base(e.Config), "sha256:"), ".json")
	if len(base) == 64 && base != cd.Encoded() {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("config %q: content does not match its digest", e.Config))
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("config %q: %v", e.Config, err))
	}
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("config %q: %d diff_ids for %d layers", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers)))
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))},
	}
	for i, name := range e.Layers {
		f, err := l.a.open(name)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %d: %w", i, err)
		}
		gz := isGzip(f)
		f.Close()
		comp, diff, size, err := l.digests(name, gz)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %d (%q): %w", i, name, err)
		}
		if diff != cfg.RootFS.DiffIDs[i] {
			return ocispec.Descriptor{}, errdefs.Invalid(fmt.Sprintf("layer %d (%q): content does not match its diff ID %s", i, name, cfg.RootFS.DiffIDs[i]))
		}
		var ld ocispec.Descriptor
		if gz {
			ld = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: comp, Size: size}
			err = l.store(ctx, name, comp, size)
		} else {
			ld, err = l.storeGzip(ctx, name)
		}
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %d (%q): %w", i, name, err)
		}
		m.Layers = append(m.Layers, ld)
	}
	if err := content.WriteBlob(ctx, l.cs, "load-"+cd.String(), bytes.NewReader(cb), cd, int64(len(cb))); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	if err := content.WriteBlob(ctx, l.cs, "load-"+md.Digest.String(), bytes.NewReader(mb), md.Digest, md.Size); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest: %w", err)
	}
	return md, nil
}

// storeGzip writes the uncompressed layer file name into the store
// gzip-compressed, as the store keeps layers.
func (l *loader) storeGzip(ctx context.Context, name string) (ocispec.Descriptor, error) {
	f, err := l.a.open(name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	var rnd [8]byte
	rand.Read(rnd[:])
	ref := "load-" + hex.EncodeToString(rnd[:])
	w, err := l.cs.Writer(ctx, ref, "", 0)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	committed := false
	defer func() {
		w.Close()
		if !committed {
			l.cs.Abort(ctx, ref)
		}
	}()
	zw := gzip.NewWriter(w)
	if _, err := io.Copy(zw, f); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: w.Offset()}
	if err := w.Commit(ctx); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return ocispec.Descriptor{}, err
	}
	committed = true
	return d, nil
}
