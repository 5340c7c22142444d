package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultVolumesFormat = "table {{.Driver}}\t{{.Name}}"

var volumeHeaders = map[string]string{
	"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "CreatedAt": "CREATED", "Links": "LINKS", "Size": "SIZE",
}

// newVolumeCommand is `capsa volume` and its subcommands.
func (c *CLI) newVolumeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes", Args: noArgs, RunE: showHelp}
	cmd.AddCommand(c.newVolumeCreateCommand(), c.newVolumeListCommand(), c.newVolumeInspectCommand(),
		c.newVolumeRemoveCommand(), c.newVolumePruneCommand())
	return cmd
}

// keyValues reads repeated KEY=VALUE flags into a map ("KEY" alone: "").
func keyValues(vs []string) map[string]string {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}

func (c *CLI) newVolumeCreateCommand() *cobra.Command {
	var name, driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  requiresRangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return StatusError{Status: "conflicting options: cannot specify a volume-name through both --name and as a positional arg", StatusCode: 1}
				}
				name = args[0]
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{
				Name: name, Driver: driver, DriverOpts: keyValues(opts), Labels: keyValues(labels),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.Volume.Name)
			return nil
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	f.StringVar(&name, "name", "", "Specify volume name")
	_ = f.MarkHidden("name")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// volumeRow is a volume as ls's --format sees it.
type volumeRow struct{ v volume.Volume }

func (r volumeRow) Name() string       { return r.v.Name }
func (r volumeRow) Driver() string     { return r.v.Driver }
func (r volumeRow) Scope() string      { return r.v.Scope }
func (r volumeRow) Mountpoint() string { return r.v.Mountpoint }
func (r volumeRow) CreatedAt() string  { return r.v.CreatedAt }
func (r volumeRow) Labels() string {
	var kv []string
	for k, v := range r.v.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
func (r volumeRow) Label(name string) string { return r.v.Labels[name] }
func (r volumeRow) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return fmt.Sprint(r.v.UsageData.RefCount)
}
func (r volumeRow) Size() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return units.HumanSize(float64(r.v.UsageData.Size))
}

func (c *CLI) newVolumeListCommand() *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: f})
			if err != nil {
				return err
			}
			switch {
			case format != "":
			case quiet:
				format = "{{.Name}}"
			default:
				format = defaultVolumesFormat
			}
			items := res.Items
			sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
			fm, err := newFormatter(c.Out, format, volumeHeaders)
			if err != nil {
				return StatusError{Status: err.Error(), StatusCode: 1}
			}
			for _, v := range items {
				if err := fm.Write(volumeRow{v}); err != nil {
					return err
				}
			}
			return fm.Flush()
		},
	}
	fl := commandFlags(cmd)
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	fl.VarP(newListValue(&filters), "filter", "f", "Provide filter values (e.g. \"dangling=true\")")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	return cmd
}

func inspectVolume(ctx context.Context, cl *client.Client, name string) (inspected, error) {
	res, err := cl.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return inspected{}, err
	}
	return inspected{typed: res.Volume, raw: res.Raw}, nil
}

func (c *CLI) newVolumeInspectCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspectAll(cmd.Context(), args, format, inspectVolume)
		},
	}
	commandFlags(cmd).StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func (c *CLI) newVolumeRemoveCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []string
			for _, name := range args {
				if _, err := cl.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force}); err != nil {
					errs = append(errs, err.Error())
					continue
				}
				fmt.Fprintln(c.Out, name)
			}
			return multiError(errs)
		},
	}
	commandFlags(cmd).BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func (c *CLI) newVolumePruneCommand() *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if _, ok := f["all"]; ok && all {
				return StatusError{Status: "conflicting options: cannot specify both --all and --filter all=1", StatusCode: 1}
			}
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
			if all {
				warning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
			}
			if !force && !c.confirm(warning) {
				return nil
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			c.printDeleted("Volumes", res.Report.VolumesDeleted, true)
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	fl := commandFlags(cmd)
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	fl.Var(newListValue(&filters), "filter", "Provide filter values (e.g. \"label=<label>\")")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}
