package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newImportCommand() *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := client.ImageImportSource{SourceName: args[0]}
			switch {
			case args[0] == "-":
				src.Source = c.In
			case strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://"):
			default:
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				src = client.ImageImportSource{Source: f, SourceName: "-"}
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ImageImport(cmd.Context(), src, ref, client.ImageImportOptions{Message: message, Changes: changes})
			if err != nil {
				return err
			}
			defer rc.Close()
			return printJSONStream(c.Out, rc)
		},
	}
	f := commandFlags(cmd)
	f.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	f.StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// printJSONStream prints a daemon's progress stream as docker does for a
// non-terminal: each status line, and fails on an error message.
func printJSONStream(out io.Writer, r io.Reader) error {
	dec := newJSONMessageDecoder(r)
	for {
		msg, err := dec()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.Error != nil {
			return StatusError{Status: msg.Error.Message, StatusCode: 1}
		}
		if msg.ID != "" && msg.Status != "" {
			fmt.Fprintf(out, "%s: %s\n", msg.ID, msg.Status)
		} else if msg.Status != "" {
			fmt.Fprintln(out, msg.Status)
		}
	}
}
