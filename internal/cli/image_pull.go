package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func (c *CLI) newPullCommand() *cobra.Command {
	var (
		quiet    bool
		platform string
	)
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference format: %s", args[0])
			}
			named = reference.TagNameOnly(named)
			opts := client.ImagePullOptions{}
			if platform != "" {
				opts.Platforms = []ocispec.Platform{parsePlatformFlag(platform)}
			}
			auth, err := registryAuthFor(named)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			opts.RegistryAuth = auth
			rc, err := cl.ImagePull(cmd.Context(), reference.FamiliarString(named), opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := c.showProgress(rc, quiet); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, named.String())
			return nil
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.StringVar(&platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

// parsePlatformFlag splits --platform's os/arch[/variant] for the client
// library, which sends it back joined; the daemon validates it (and
// answers a bad one with docker's 400).
func parsePlatformFlag(s string) ocispec.Platform {
	parts := strings.Split(s, "/")
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = strings.Join(parts[2:], "/")
	}
	return p
}

// printPullStream prints a pull's progress stream as plain lines, as
// docker does when not on a terminal: every step but the byte counts.
func printPullStream(out io.Writer, r io.Reader, quiet bool) error {
	return displayProgressStream(r, out, false, 0, quiet)
}

// showProgress displays a pull's, push's or load's progress stream on
// c.Out: docker's bars redrawn in place on a terminal, plain lines
// otherwise.
func (c *CLI) showProgress(r io.Reader, quiet bool) error {
	_, width, _ := terminalSize(c.Out)
	return displayProgressStream(r, c.Out, isTerminal(c.Out), int(width), quiet)
}
