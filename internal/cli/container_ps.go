package cli

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const (
	defaultPsFormat     = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	defaultPsQuietFmt   = "{{.ID}}"
	psSizeColumn        = "\t{{.Size}}"
	commandDisplayWidth = 20
)

// psHeaders are the column titles of ps's fields.
var psHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
	"Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
	"Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
}

func (c *CLI) newPsCommand() *cobra.Command {
	var (
		quiet, all, latest, noTrunc, size bool
		last                              int
		format                            string
		filters                           []string
	)
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noPositional,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			if last > 0 {
				all = true
			}
			withSize := size || (format != "" && strings.Contains(format, ".Size"))
			res, err := cl.ContainerList(cmd.Context(), client.ContainerListOptions{
				All: all, Limit: last, Size: withSize, Filters: f,
			})
			if err != nil {
				return err
			}
			if format == "" {
				switch {
				case quiet:
					format = defaultPsQuietFmt
				case size:
					format = defaultPsFormat + psSizeColumn
				default:
					format = defaultPsFormat
				}
			}
			return renderContainers(c.Out, format, res.Items, !noTrunc, time.Now())
		},
	}
	fl := commandFlags(cmd)
	fl.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	fl.VarP(newListValue(&filters), "filter", "f", "Filter output based on conditions provided")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	fl.IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	fl.BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	fl.BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

// renderContainers writes ps's listing.
func renderContainers(out interface{ Write([]byte) (int, error) }, format string, items []container.Summary, trunc bool, now time.Time) error {
	f, err := newFormatter(out, format, psHeaders)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	for _, it := range items {
		if err := f.Write(&containerRow{c: it, trunc: trunc, now: now}); err != nil {
			return err
		}
	}
	return f.Flush()
}

// containerRow is one line of ps: its methods are the fields a --format
// template can use.
type containerRow struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

func truncateID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ellipsis shortens s to width runes, the last one an ellipsis.
func ellipsis(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

func (r *containerRow) ID() string {
	if r.trunc {
		return truncateID(r.c.ID)
	}
	return r.c.ID
}

func (r *containerRow) Names() string {
	var names []string
	for _, n := range r.c.Names {
		n = strings.TrimPrefix(n, "/")
		if r.trunc && strings.Contains(n, "/") {
			continue // a link's name
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func (r *containerRow) Image() string {
	img := r.c.Image
	if img == "" {
		return "<no image>"
	}
	if r.trunc && strings.HasPrefix(img, "sha256:") {
		return truncateID(img)
	}
	return img
}

func (r *containerRow) Command() string {
	cmd := r.c.Command
	if r.trunc {
		cmd = ellipsis(cmd, commandDisplayWidth)
	}
	return strconv.Quote(cmd)
}

func (r *containerRow) CreatedAt() string {
	return time.Unix(r.c.Created, 0).String()
}

func (r *containerRow) RunningFor() string {
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.c.Created, 0))) + " ago"
}

func (r *containerRow) Ports() string { return displayablePorts(r.c.Ports) }

func (r *containerRow) State() string  { return string(r.c.State) }
func (r *containerRow) Status() string { return r.c.Status }

func (r *containerRow) Size() string {
	if r.c.SizeRw == 0 && r.c.SizeRootFs == 0 {
		return "0B"
	}
	srw := units.HumanSizeWithPrecision(float64(r.c.SizeRw), 3)
	sv := units.HumanSizeWithPrecision(float64(r.c.SizeRootFs), 3)
	return srw + " (virtual " + sv + ")"
}

func (r *containerRow) Labels() string {
	var kv []string
	for k, v := range r.c.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// Label is the value of one label.
func (r *containerRow) Label(name string) string { return r.c.Labels[name] }

func (r *containerRow) Mounts() string {
	var m []string
	for _, mp := range r.c.Mounts {
		name := mp.Name
		if name == "" {
			name = mp.Source
		}
		if r.trunc {
			name = ellipsis(name, 15)
		}
		m = append(m, name)
	}
	return strings.Join(m, ",")
}

func (r *containerRow) LocalVolumes() string {
	n := 0
	for _, mp := range r.c.Mounts {
		if mp.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

func (r *containerRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	var n []string
	for k := range r.c.NetworkSettings.Networks {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func (r *containerRow) Platform() string { return "" }

// MarshalJSON is what {{json .}} and --format json print: every field.
func (r *containerRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Command": r.Command(), "CreatedAt": r.CreatedAt(), "ID": r.ID(), "Image": r.Image(),
		"Labels": r.Labels(), "LocalVolumes": r.LocalVolumes(), "Mounts": r.Mounts(),
		"Names": r.Names(), "Networks": r.Networks(), "Ports": r.Ports(),
		"RunningFor": r.RunningFor(), "Size": r.Size(), "State": r.State(), "Status": r.Status(),
	})
}
