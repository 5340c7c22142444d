package cli

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newSystemPruneCommand() *cobra.Command {
	var force, all, volumes bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			items := []string{"all stopped containers", "all networks not used by at least one container"}
			if volumes {
				items = append(items, "all anonymous volumes not used by at least one container")
			}
			if all {
				items = append(items, "all images without at least one container associated to them")
			} else {
				items = append(items, "all dangling images")
			}
			warning := "WARNING! This will remove:\n  - " + strings.Join(items, "\n  - ") + "\n\nAre you sure you want to continue?"
			if !force && !c.confirm(warning) {
				return nil
			}
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			total, err := c.pruneContainers(ctx, cl, f)
			if err != nil {
				return err
			}
			nets, err := cl.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			c.printDeleted("Networks", nets.Report.NetworksDeleted, true)
			if volumes {
				res, err := cl.VolumePrune(ctx, client.VolumePruneOptions{Filters: f})
				if err != nil {
					return err
				}
				c.printDeleted("Volumes", res.Report.VolumesDeleted, true)
				total += res.Report.SpaceReclaimed
			}
			n, err := c.pruneImages(ctx, cl, f, all)
			if err != nil {
				return err
			}
			total += n
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(total)))
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	fl.Var(newListValue(&filters), "filter", "Provide filter values (e.g. \"label=<key>=<value>\")")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	return cmd
}

// printDeleted lists what a prune removed under docker's "Deleted
// <what>:" heading (nothing if nothing was), with a blank line after it
// if more follows.
func (c *CLI) printDeleted(what string, names []string, blank bool) {
	if len(names) == 0 {
		return
	}
	fmt.Fprintf(c.Out, "Deleted %s:\n", what)
	for _, n := range names {
		fmt.Fprintln(c.Out, n)
	}
	if blank {
		fmt.Fprintln(c.Out)
	}
}
