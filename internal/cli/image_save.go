package cli

import (
	"github.com/spf13/cobra"
)

func (c *CLI) newSaveCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && isTerminal(c.Out) {
				return StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", StatusCode: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ImageSave(cmd.Context(), args)
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
