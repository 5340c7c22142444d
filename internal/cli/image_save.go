package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/image/archive"
)

// Formats of capsa save, podman save's names.
const (
	saveDockerArchive = "docker-archive"
	saveOCIArchive    = "oci-archive"
	saveOCIDir        = "oci-dir"
)

func (c *CLI) newSaveCommand() *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Long: `Save one or more images to a tar archive (streamed to STDOUT by default).

Formats (--format), as podman save names them:
  docker-archive  a docker-archive that is also an OCI image layout, as docker 25+
                  writes it: docker load, podman load, skopeo and umoci read it
  oci-archive     the OCI image layout alone in a tar (no manifest.json)
  oci-dir         an OCI image layout directory at -o (not existing or empty), as
                  skopeo's oci:DIR and umoci read it; each image's index entry
                  has org.opencontainers.image.ref.name set to its tag
                  ("skopeo copy oci:DIR:latest ...") and io.containerd.image.name
                  to its full name`,
		Args: requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case saveDockerArchive, saveOCIArchive:
				if output == "" && isTerminal(c.Out) {
					return StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
				}
			case saveOCIDir:
				if output == "" {
					return StatusError{Status: "--format oci-dir needs -o DIRECTORY", StatusCode: 125}
				}
			default:
				return StatusError{Status: fmt.Sprintf("invalid format %q: want docker-archive, oci-archive or oci-dir", format), StatusCode: 125}
			}
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			rc, err := cl.ImageSave(ctx, args)
			if err != nil {
				return err
			}
			defer rc.Close()
			switch format {
			case saveOCIDir:
				return archive.WriteLayoutDir(ctx, rc, output)
			case saveOCIArchive:
				pr := filtered(ctx, rc, archive.FilterOCI)
				defer pr.Close()
				return writeOutput(c.Out, output, pr)
			}
			return writeOutput(c.Out, output, rc)
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&output, "output", "o", "", "Write to a file (a directory for oci-dir), instead of STDOUT")
	f.StringVar(&format, "format", saveDockerArchive, "Save to docker-archive, oci-archive or oci-dir")
	return cmd
}

// filtered is what fn writes while it reads r: a pipe that ends with fn's
// error; closing it stops fn.
func filtered(ctx context.Context, r io.Reader, fn func(ctx context.Context, r io.Reader, w io.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(fn(ctx, r, pw)) }()
	return pr
}
