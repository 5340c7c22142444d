package cli

import (
	"fmt"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newDfCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show capsa disk usage",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			du, err := cl.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.Out, 10, 1, 3, ' ', 0)
			fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			row := func(name string, total, active, size, reclaim int64, pct bool) {
				r := units.HumanSize(float64(reclaim))
				if pct && size > 0 {
					r = fmt.Sprintf("%s (%d%%)", r, reclaim*100/size)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", name, total, active, units.HumanSize(float64(size)), r)
			}
			row("Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, du.Images.Reclaimable, true)
			row("Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable, true)
			row("Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable, true)
			row("Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable, false)
			return w.Flush()
		},
	}
}
