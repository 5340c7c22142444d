package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newCpCommand() *cobra.Command {
	var archive, followLink, quiet bool
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tcapsa cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcCtr, srcPath := splitCpArg(args[0])
			dstCtr, dstPath := splitCpArg(args[1])
			switch {
			case srcPath == "" || dstPath == "":
				return StatusError{Status: "capsa: filepath cannot be empty", StatusCode: 1}
			case srcCtr != "" && dstCtr != "":
				return StatusError{Status: "capsa: copying between containers is not supported", StatusCode: 1}
			case srcCtr == "" && dstCtr == "":
				return StatusError{Status: "capsa: must specify at least one container source", StatusCode: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var n int64
			var to string
			if srcCtr != "" {
				n, err = c.copyFromContainer(cmd.Context(), cl, srcCtr, srcPath, dstPath, followLink)
				to = dstPath
			} else {
				n, err = c.copyToContainer(cmd.Context(), cl, srcPath, dstCtr, dstPath, archive, followLink)
				to = args[1]
			}
			if err != nil {
				return err
			}
			if !quiet && dstPath != "-" && isTerminal(c.Err) {
				fmt.Fprintf(c.Err, "Successfully copied %s to %s\n", units.HumanSize(float64(n)), to)
			}
			return nil
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	f.BoolVarP(&followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output during copy")
	return cmd
}

// splitCpArg splits CONTAINER:PATH; a path that starts with / or . (or has
// no colon) is local.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return ctr, p
}

// copyFromContainer copies the container's srcPath to the local dstPath
// (a tar on stdout for "-"), with docker's rules for naming the result.
func (c *CLI) copyFromContainer(ctx context.Context, cl *client.Client, ctr, srcPath, dstPath string, follow bool) (int64, error) {
	if !path.IsAbs(srcPath) {
		srcPath = "/" + srcPath
	}
	linkName := ""
	if follow {
		st, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err != nil {
			return 0, err
		}
		if st.Stat.Mode&os.ModeSymlink != 0 && st.Stat.LinkTarget != "" {
			linkName = path.Base(srcPath)
			target := st.Stat.LinkTarget
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(srcPath), target)
			}
			srcPath = target
		}
	}
	res, err := cl.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return 0, err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		return io.Copy(c.Out, res.Content)
	}
	srcIsDir := res.Stat.Mode.IsDir()
	srcBase := res.Stat.Name
	contentsOnly := srcIsDir && (strings.HasSuffix(srcPath, "/.") || srcPath == ".")

	target := dstPath
	fi, err := os.Stat(dstPath)
	switch {
	case err == nil && fi.IsDir():
		if !contentsOnly {
			name := srcBase
			if linkName != "" {
				name = linkName
			}
			target = filepath.Join(dstPath, name)
		}
	case err == nil:
		if srcIsDir {
			return 0, StatusError{Status: fmt.Sprintf("capsa: cannot copy a directory to a file: %s", dstPath), StatusCode: 1}
		}
	case errors.Is(err, fs.ErrNotExist):
		if strings.HasSuffix(dstPath, "/") && !srcIsDir {
			return 0, StatusError{Status: fmt.Sprintf("capsa: destination directory %s does not exist", dstPath), StatusCode: 1}
		}
		if _, err := os.Stat(filepath.Dir(filepath.Clean(dstPath))); err != nil {
			return 0, err
		}
	default:
		return 0, err
	}
	return extractRenamed(res.Content, srcBase, target)
}

// extractRenamed extracts a tar whose top entry is base into target: the
// entry "base/x" lands in "target/x". Entries must stay under base; no
// entry is written through a symlink the tar made.
func extractRenamed(r io.Reader, base, target string) (int64, error) {
	tr := tar.NewReader(r)
	links := map[string]bool{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(h.Name)
		rel, ok := strings.CutPrefix(name, base)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) || strings.Contains(name, "..") {
			return total, fmt.Errorf("archive entry %q is outside %q", h.Name, base)
		}
		dst := filepath.Join(target, rel)
		for p := filepath.Dir(dst); p != target && len(p) > len(target); p = filepath.Dir(p) {
			if links[p] {
				return total, fmt.Errorf("archive entry %q goes through a symlink", h.Name)
			}
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return total, err
			}
			_ = os.Chmod(dst, mode)
		case tar.TypeReg:
			if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
				if err := os.RemoveAll(dst); err != nil {
					return total, err
				}
			}
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscallNoFollow, mode)
			if err != nil {
				return total, err
			}
			n, err := io.Copy(f, tr)
			total += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return total, err
			}
			_ = os.Chmod(dst, mode)
		case tar.TypeSymlink:
			_ = os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return total, err
			}
			links[dst] = true
		case tar.TypeLink:
			lrel, ok := strings.CutPrefix(path.Clean(h.Linkname), base)
			if !ok || strings.Contains(h.Linkname, "..") {
				return total, fmt.Errorf("archive hard link %q is outside %q", h.Linkname, base)
			}
			_ = os.Remove(dst)
			if err := os.Link(filepath.Join(target, lrel), dst); err != nil {
				return total, err
			}
		default:
			// Devices, fifos: skipped, as an unprivileged copy would.
			continue
		}
		_ = os.Chtimes(dst, h.AccessTime, h.ModTime)
	}
}

// copyToContainer copies the local srcPath (a tar on stdin for "-") to the
// container's dstPath.
func (c *CLI) copyToContainer(ctx context.Context, cl *client.Client, srcPath, ctr, dstPath string, archive, follow bool) (int64, error) {
	if !path.IsAbs(dstPath) {
		dstPath = "/" + dstPath
	}
	opts := client.CopyToContainerOptions{CopyUIDGID: archive}
	if srcPath == "-" {
		opts.DestinationPath = dstPath
		opts.Content = c.In
		cr := &countingReader{r: c.In}
		opts.Content = cr
		_, err := cl.CopyToContainer(ctx, ctr, opts)
		return cr.n, err
	}
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(srcPath)
	if err != nil {
		return 0, err
	}
	contentsOnly := fi.IsDir() && (strings.HasSuffix(srcPath, "/.") || srcPath == ".")
	name := filepath.Base(filepath.Clean(srcPath))
	extractAt := dstPath
	dst, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath})
	switch {
	case err == nil && dst.Stat.Mode.IsDir():
	case err == nil:
		if fi.IsDir() {
			return 0, StatusError{Status: fmt.Sprintf("capsa: cannot copy a directory to a file: %s", dstPath), StatusCode: 1}
		}
		name, extractAt = path.Base(dstPath), path.Dir(dstPath)
	case cerrdefs.IsNotFound(err):
		if strings.HasSuffix(dstPath, "/") && !fi.IsDir() {
			return 0, StatusError{Status: fmt.Sprintf("capsa: destination directory %s does not exist", dstPath), StatusCode: 1}
		}
		name, extractAt = path.Base(dstPath), path.Dir(path.Clean(dstPath))
		contentsOnly = false
	default:
		return 0, err
	}
	pr, pw := io.Pipe()
	var total int64
	go func() {
		n, err := writeTar(pw, srcPath, name, contentsOnly, follow)
		total = n
		pw.CloseWithError(err)
	}()
	opts.DestinationPath = extractAt
	opts.Content = pr
	_, err = cl.CopyToContainer(ctx, ctr, opts)
	_ = pr.Close()
	return total, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// writeTar writes src as a tar whose top entry is named name (or, with
// contentsOnly, src's entries at the top).
func writeTar(w io.Writer, src, name string, contentsOnly, follow bool) (int64, error) {
	tw := tar.NewWriter(w)
	var total int64
	root := filepath.Clean(src)
	first := true
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var fi fs.FileInfo
		if first && follow {
			fi, err = os.Stat(p)
		} else {
			fi, err = os.Lstat(p)
		}
		first = false
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var entry string
		switch {
		case contentsOnly && rel == ".":
			return nil
		case contentsOnly:
			entry = rel
		case rel == ".":
			entry = name
		default:
			entry = path.Join(name, filepath.ToSlash(rel))
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = entry
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			total += n
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return total, err
	}
	return total, tw.Close()
}
