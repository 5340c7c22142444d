package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/capsa-dev/capsa/internal/image/archive"
)

func (c *CLI) newLoadCommand() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Long: `Load an image from a tar archive or STDIN.

-i names a docker-archive or OCI archive (a tar, possibly gzip-compressed), or an
OCI image layout directory (skopeo's oci:DIR, umoci, podman save --format
oci-dir), which capsa sends to the daemon as an OCI archive. An image of an OCI
layout is named by its index entry's io.containerd.image.name annotation, else by
org.opencontainers.image.ref.name, as podman load names an oci-archive: a bare
"mytag" (skopeo copy ... oci:DIR:mytag) loads as "mytag:latest". Unlike podman,
a directory's images are named the same way, not after the directory's path;
an image with neither annotation loads untagged.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = c.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
				if fi, err := f.Stat(); err != nil {
					return err
				} else if fi.IsDir() {
					r, err := layoutReader(cmd.Context(), input)
					if err != nil {
						return err
					}
					defer r.Close()
					in = r
				}
			} else if isTerminal(c.In) {
				return StatusError{Status: "requested load from stdin, but stdin is empty", StatusCode: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return err
			}
			defer rc.Close()
			return printLoadStream(c.Out, rc)
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&input, "input", "i", "", "Read from a tar archive or an OCI image layout directory, instead of STDIN")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// layoutReader is the OCI image layout directory dir as an archive for
// the daemon's load (which checks every digest; an image without a name
// in index.json loads untagged).
func layoutReader(ctx context.Context, dir string) (io.ReadCloser, error) {
	if _, err := archive.ReadLayoutIndex(dir); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.LayoutTar(ctx, pw, dir)) }()
	return pr, nil
}

// printLoadStream prints load's JSON stream ({"stream": "Loaded image:
// ...\n"}) and fails on an error message.
func printLoadStream(out io.Writer, r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return StatusError{Status: msg.Error, StatusCode: 1}
		}
		if msg.Stream != "" {
			fmt.Fprint(out, msg.Stream)
		} else if msg.Status != "" {
			fmt.Fprintln(out, msg.Status)
		}
	}
}
