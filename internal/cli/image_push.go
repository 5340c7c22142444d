package cli

import (
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newPushCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
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
			rc, err := cl.ImagePush(cmd.Context(), reference.FamiliarString(named), client.ImagePushOptions{RegistryAuth: auth})
			if err != nil {
				return err
			}
			defer rc.Close()
			return c.showProgress(rc, quiet)
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}
