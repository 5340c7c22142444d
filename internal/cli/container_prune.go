package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newContainerPruneCommand() *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !c.confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
				return nil
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			n, err := c.pruneContainers(cmd.Context(), cl, f)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(n)))
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.Var(newListValue(&filters), "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

func (c *CLI) pruneContainers(ctx context.Context, cl *client.Client, f client.Filters) (uint64, error) {
	res, err := cl.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	if len(res.Report.ContainersDeleted) > 0 {
		fmt.Fprintln(c.Out, "Deleted Containers:")
		for _, id := range res.Report.ContainersDeleted {
			fmt.Fprintln(c.Out, id)
		}
		fmt.Fprintln(c.Out)
	}
	return res.Report.SpaceReclaimed, nil
}

func (c *CLI) newImagePruneCommand() *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			warning := "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
			}
			if !force && !c.confirm(warning) {
				return nil
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			n, err := c.pruneImages(cmd.Context(), cl, f, all)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(n)))
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	fl.Var(newListValue(&filters), "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

func (c *CLI) pruneImages(ctx context.Context, cl *client.Client, f client.Filters, all bool) (uint64, error) {
	f = f.Clone()
	if all {
		f.Add("dangling", "false")
	} else {
		f.Add("dangling", "true")
	}
	res, err := cl.ImagePrune(ctx, client.ImagePruneOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	if len(res.Report.ImagesDeleted) > 0 {
		fmt.Fprintln(c.Out, "Deleted Images:")
		for _, d := range res.Report.ImagesDeleted {
			if d.Untagged != "" {
				fmt.Fprintf(c.Out, "untagged: %s\n", d.Untagged)
			} else {
				fmt.Fprintf(c.Out, "deleted: %s\n", d.Deleted)
			}
		}
		fmt.Fprintln(c.Out)
	}
	return res.Report.SpaceReclaimed, nil
}

// confirm asks a yes/no question on the terminal; anything but y/yes is no.
func (c *CLI) confirm(question string) bool {
	fmt.Fprintf(c.Out, "%s [y/N] ", question)
	line, err := bufio.NewReader(c.In).ReadString('\n')
	if err != nil && err != io.EOF {
		return false
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	if answer != "y" && answer != "yes" {
		fmt.Fprintln(c.Out, "Total reclaimed space: 0B")
		return false
	}
	return true
}
