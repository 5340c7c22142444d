package cli

import (
	"context"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func (c *CLI) newCreateCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.parse(cmd.Flags(), args)
			if err != nil {
				return runError(cmd, err)
			}
			id, err := c.createContainer(cmd.Context(), cfg, o.name)
			if err != nil {
				return runError(cmd, err)
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	o.addCreateFlags(commandFlags(cmd))
	return cmd
}

// runError is how run and create report a failure before the container
// runs: "capsa: <error>", a pointer to --help, exit status 125.
func runError(cmd *cobra.Command, err error) error {
	if se, ok := err.(StatusError); ok {
		return se
	}
	return StatusError{
		Status:     fmt.Sprintf("capsa: %s\n\nRun '%s --help' for more information", err, cmd.CommandPath()),
		StatusCode: 125,
	}
}

// createContainer creates the container, pulling its image first when the
// daemon does not have it, as docker does, and prints the daemon's
// warnings.
func (c *CLI) createContainer(ctx context.Context, cfg *containerConfig, name string) (string, error) {
	cl, err := c.Client(ctx)
	if err != nil {
		return "", err
	}
	opts := client.ContainerCreateOptions{
		Config:           cfg.Config,
		HostConfig:       cfg.HostConfig,
		NetworkingConfig: cfg.Networking,
		Name:             name,
	}
	res, err := cl.ContainerCreate(ctx, opts)
	if err != nil && cerrdefs.IsNotFound(err) && isImageMissing(ctx, cl, cfg.Config.Image) {
		fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", withLatest(cfg.Config.Image))
		if perr := c.pullImage(ctx, cl, cfg.Config.Image, cfg.Platform); perr != nil {
			return "", perr
		}
		res, err = cl.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.Err, "WARNING: %s\n", w)
	}
	return res.ID, nil
}

func isImageMissing(ctx context.Context, cl *client.Client, ref string) bool {
	_, err := cl.ImageInspect(ctx, ref)
	return cerrdefs.IsNotFound(err)
}

// withLatest adds the :latest tag to a reference without tag or digest.
func withLatest(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case '/':
			return ref + ":latest"
		case ':', '@':
			return ref
		}
	}
	return ref + ":latest"
}

// pullImage pulls ref (for platform, when not nil) with the credentials
// capsa login stored for its registry, and prints the daemon's final
// status line.
func (c *CLI) pullImage(ctx context.Context, cl *client.Client, ref string, platform *ocispec.Platform) error {
	var opts client.ImagePullOptions
	if platform != nil {
		opts.Platforms = []ocispec.Platform{*platform}
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		if opts.RegistryAuth, err = registryAuthFor(named); err != nil {
			return err
		}
	}
	resp, err := cl.ImagePull(ctx, withLatest(ref), opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return err
		}
		if msg.Error != nil {
			return fmt.Errorf("%s", msg.Error.Message)
		}
		if msg.ID == "" && msg.Status != "" {
			fmt.Fprintln(c.Err, msg.Status)
		}
	}
	_, _ = io.Copy(io.Discard, resp)
	return nil
}
