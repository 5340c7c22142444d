package cli

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newCommitCommand() *cobra.Command {
	var (
		author, message string
		changes         []string
		pause           bool
	)
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.ContainerCommit(cmd.Context(), args[0], client.ContainerCommitOptions{
				Reference: ref, Comment: message, Author: author, Changes: changes, NoPause: !pause,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.StringVarP(&author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fl.VarP(newListValue(&changes), "change", "c", "Apply Dockerfile instruction to the created image")
	fl.StringVarP(&message, "message", "m", "", "Commit message")
	fl.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
