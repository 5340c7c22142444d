package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newLoadCommand() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = c.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
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
	f.StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
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
