package cli

import (
	"errors"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newExportCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && isTerminal(c.Out) {
				return StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ContainerExport(cmd.Context(), args[0], client.ContainerExportOptions{})
			if err != nil {
				return err
			}
			defer rc.Close()
			return writeOutput(c.Out, output, rc)
		},
	}
	commandFlags(cmd).StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// writeOutput copies r to the file name (written beside it and renamed
// into place when complete) or, when name is empty, to out.
func writeOutput(out io.Writer, name string, r io.Reader) error {
	if name == "" {
		_, err := io.Copy(out, r)
		return err
	}
	f, err := os.CreateTemp(dirOf(name), ".capsa-export-")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}

func dirOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			if i == 0 {
				return "/"
			}
			return name[:i]
		}
	}
	return "."
}
