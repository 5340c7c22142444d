package cli

import (
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newPullCommand() *cobra.Command {
	var quiet bool
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
			auth, err := registryAuthFor(named)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ImagePull(cmd.Context(), reference.FamiliarString(named), client.ImagePullOptions{RegistryAuth: auth})
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := printPullStream(c.Out, rc, quiet); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, named.String())
			return nil
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// printPullStream prints a pull's progress stream as plain lines, as
// docker does when not on a terminal: every step but the byte counts.
func printPullStream(out io.Writer, r io.Reader, quiet bool) error {
	dec := newJSONMessageDecoder(r)
	for {
		msg, err := dec()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case msg.Error != nil:
			return StatusError{Status: msg.Error.Message, StatusCode: 1}
		case quiet || msg.Progress != nil || msg.Status == "":
		case msg.ID != "":
			fmt.Fprintf(out, "%s: %s\n", msg.ID, msg.Status)
		default:
			fmt.Fprintln(out, msg.Status)
		}
	}
}
