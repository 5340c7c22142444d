package cli

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

// docker's history formats and headers.
const (
	defaultHistoryFormat  = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	nonHumanHistoryFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

func (c *CLI) newHistoryCommand() *cobra.Command {
	var (
		human, noTrunc, quiet bool
		format                string
	)
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			switch {
			case quiet:
				format = "{{.ID}}"
			case format == "" || format == "table":
				format = defaultHistoryFormat
				if !human {
					format = nonHumanHistoryFormat
				}
			}
			return renderHistory(c.Out, format, res.Items, !noTrunc, human, time.Now())
		},
	}
	fl := commandFlags(cmd)
	// docker's -H shorthand is capsa's persistent -H (--host), so only
	// the long form is offered.
	fl.BoolVar(&human, "human", true, "Print sizes and dates in human readable format")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	return cmd
}

// renderHistory writes an image's history, newest entry first, as
// docker's history does.
func renderHistory(out io.Writer, format string, items []image.HistoryResponseItem, trunc, human bool, now time.Time) error {
	f, err := newFormatter(out, format, historyHeaders)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	for _, h := range items {
		if err := f.Write(&historyRow{h: h, trunc: trunc, human: human, now: now}); err != nil {
			return err
		}
	}
	return f.Flush()
}

// historyRow is one history entry as docker's formatter shows it.
type historyRow struct {
	h     image.HistoryResponseItem
	trunc bool
	human bool
	now   time.Time
}

func (r *historyRow) ID() string {
	if r.trunc && r.h.ID != "<missing>" {
		return truncateID(r.h.ID)
	}
	return r.h.ID
}

func (r *historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	if r.h.Created <= 0 {
		return "N/A"
	}
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.h.Created, 0))) + " ago"
}

func (r *historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(by, 45)
	}
	return by
}

func (r *historyRow) Size() string {
	if r.human {
		return units.HumanSizeWithPrecision(float64(r.h.Size), 3)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

func (r *historyRow) Comment() string { return r.h.Comment }

// MarshalJSON is what {{json .}} and --format json print.
func (r *historyRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Comment": r.Comment(), "CreatedAt": r.CreatedAt(), "CreatedBy": r.CreatedBy(),
		"CreatedSince": r.CreatedSince(), "ID": r.ID(), "Size": r.Size(),
	})
}
