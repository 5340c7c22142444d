package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// An OCI image layout directory (what skopeo's oci: transport, umoci and
// podman save --format oci-dir read and write) holds oci-layout, index.json
// and blobs/<algorithm>/<encoded digest>; an archive is that tree in a tar.
// The functions here move images between the two forms: WriteLayoutDir and
// FilterOCI keep only those files of an archive (dropping docker-archive's
// manifest.json and legacy files), LayoutTar makes an archive of a directory
// for Load.

// layoutFile tells whether the clean archive path name is a file of an OCI
// layout and, for a blob, its digest (its name checked to be one).
func layoutFile(name string) (bool, digest.Digest, error) {
	switch name {
	case ocispec.ImageLayoutFile, ocispec.ImageIndexFile:
		return true, "", nil
	}
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != ocispec.ImageBlobsDir {
		return false, "", nil
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	if err := d.Validate(); err != nil {
		return false, "", errdefs.Invalid(fmt.Sprintf("archive entry %q: not a blob name: %v", name, err))
	}
	return true, d, nil
}

// walkLayout calls fn for each file of the OCI layout in the tar r, with
// its clean path, digest (for a blob), size and content; other entries are
// skipped. It fails when the archive lacks oci-layout or index.json.
func walkLayout(ctx context.Context, r io.Reader, fn func(name string, d digest.Digest, size int64, body io.Reader) error) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid(fmt.Sprintf("read archive: %v", err))
		}
		if n >= maxEntries {
			return errdefs.Invalid(fmt.Sprintf("archive has more than %d entries", maxEntries))
		}
		name, err := cleanPath(hdr.Name)
		if err != nil {
			return err
		}
		ok, d, err := layoutFile(name)
		if err != nil || !ok {
			if hdr.Typeflag == tar.TypeDir {
				err = nil // blobs/ and blobs/sha256/ are made as needed
			}
			if err != nil {
				return err
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return errdefs.Invalid(fmt.Sprintf("archive entry %q: type %q, not a regular file", name, hdr.Typeflag))
		}
		if seen[name] {
			return errdefs.Invalid(fmt.Sprintf("archive entry %q: more than once", name))
		}
		seen[name] = true
		if d == "" && hdr.Size > maxJSONSize {
			return errdefs.Invalid(fmt.Sprintf("archive file %q: over %d bytes", name, maxJSONSize))
		}
		if err := fn(name, d, hdr.Size, tr); err != nil {
			return err
		}
	}
	for _, f := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		if !seen[f] {
			return errdefs.Invalid(fmt.Sprintf("archive has no %s: not an OCI layout", f))
		}
	}
	return nil
}

// copyVerified copies size bytes of r to w and checks them against d (when
// not empty).
func copyVerified(w io.Writer, r io.Reader, d digest.Digest, size int64) error {
	var vr digest.Verifier
	if d != "" {
		vr = d.Verifier()
		w = io.MultiWriter(w, vr)
	}
	if _, err := io.CopyN(w, r, size); err != nil {
		return err
	}
	if vr != nil && !vr.Verified() {
		return errdefs.Invalid(fmt.Sprintf("blob %s: content does not match its digest", d))
	}
	return nil
}

// FilterOCI copies the OCI layout of the archive r (as Write makes it: a
// docker-archive that is also an OCI layout) to w as an OCI archive alone:
// oci-layout, index.json and the blobs, each blob checked against its
// digest.
func FilterOCI(ctx context.Context, r io.Reader, w io.Writer) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	now := time.Unix(0, 0)
	err := walkLayout(ctx, r, func(name string, d digest.Digest, size int64, body io.Reader) error {
		for _, dir := range []string{path.Dir(path.Dir(name)), path.Dir(name)} {
			if dir == "." || dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: now, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		return copyVerified(tw, body, d, size)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// WriteLayoutDir writes the OCI layout of the archive r as an image layout
// directory at dir, which must not exist or be empty. Only oci-layout,
// index.json and blobs/<algorithm>/<hex> are written, each blob checked
// against its digest, every path opened through an os.Root of dir (nothing
// is written outside it, whatever the archive names). On an error, what
// was written is removed.
func WriteLayoutDir(ctx context.Context, r io.Reader, dir string) (retErr error) {
	created := true
	if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
		created = false
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("layout %q: %w", dir, err)
		}
		if len(ents) > 0 {
			return errdefs.AlreadyExists(fmt.Sprintf("layout %q: directory is not empty", dir))
		}
	} else if err != nil {
		return fmt.Errorf("layout %q: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("layout %q: %w", dir, err)
	}
	defer root.Close()
	defer func() {
		if retErr == nil {
			return
		}
		if created {
			_ = os.RemoveAll(dir)
			return
		}
		for _, n := range []string{ocispec.ImageBlobsDir, ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
			_ = root.RemoveAll(n)
		}
	}()
	err = walkLayout(ctx, r, func(name string, d digest.Digest, size int64, body io.Reader) error {
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		err = copyVerified(f, body, d, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("layout %q: %w", dir, err)
	}
	return nil
}

// ReadLayoutIndex reads index.json of the image layout directory dir.
func ReadLayoutIndex(dir string) (ocispec.Index, error) {
	var idx ocispec.Index
	root, err := os.OpenRoot(dir)
	if err != nil {
		return idx, fmt.Errorf("layout %q: %w", dir, err)
	}
	defer root.Close()
	for _, n := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		if _, err := root.Stat(n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return idx, errdefs.Invalid(fmt.Sprintf("layout %q: no %s: not an OCI image layout", dir, n))
			}
			return idx, fmt.Errorf("layout %q: %w", dir, err)
		}
	}
	f, err := root.Open(ocispec.ImageIndexFile)
	if err != nil {
		return idx, fmt.Errorf("layout %q: %w", dir, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSONSize+1))
	if err != nil {
		return idx, fmt.Errorf("layout %q: %w", dir, err)
	}
	if len(b) > maxJSONSize {
		return idx, errdefs.Invalid(fmt.Sprintf("layout %q: index.json over %d bytes", dir, maxJSONSize))
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, errdefs.Invalid(fmt.Sprintf("layout %q: index.json: %v", dir, err))
	}
	return idx, nil
}

// LayoutTar writes the image layout directory dir to w as an archive for
// Load: oci-layout, index.json and every regular file under
// blobs/<algorithm>/, in a stable order. Files are opened through an
// os.Root of dir: a symlink in the layout may point within it, not out.
func LayoutTar(ctx context.Context, w io.Writer, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("layout %q: %w", dir, err)
	}
	defer root.Close()
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	file := func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := root.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return errdefs.Invalid(fmt.Sprintf("%s is not a regular file", name))
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: fi.Size(), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, f, fi.Size()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	readDir := func(name string) ([]string, error) {
		f, err := root.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		sort.Strings(names)
		return names, err
	}
	err = func() error {
		for _, n := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
			if err := file(n); err != nil {
				return err
			}
		}
		algs, err := readDir(ocispec.ImageBlobsDir)
		if err != nil {
			return err
		}
		for _, alg := range algs {
			blobs, err := readDir(path.Join(ocispec.ImageBlobsDir, alg))
			if err != nil {
				return err
			}
			for _, b := range blobs {
				name := path.Join(ocispec.ImageBlobsDir, alg, b)
				if ok, _, err := layoutFile(name); err != nil || !ok {
					continue // not a blob: no manifest can name it
				}
				if err := file(name); err != nil {
					return err
				}
			}
		}
		return tw.Close()
	}()
	if err != nil {
		return fmt.Errorf("layout %q: %w", dir, err)
	}
	return nil
}

// ImageName is the name an OCI index entry gives its image, as podman load
// reads it: containerd's io.containerd.image.name, else
// org.opencontainers.image.ref.name. Skopeo's oci:DIR:TAG writes TAG there
// and podman load takes it as a name too ("mytag" loads as
// "mytag:latest"); docker and capsa write a full name in the first and the
// tag in the second.
func ImageName(annotations map[string]string) string {
	if n := annotations[annotationImageName]; n != "" {
		return n
	}
	return annotations[annotationRefName]
}
