package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func (c *CLI) newEventsCommand() *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
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
			var tmpl *formatter
			if format != "" {
				if tmpl, err = newFormatter(c.Out, format, nil); err != nil {
					return StatusError{Status: err.Error(), StatusCode: 1}
				}
			}
			res := cl.Events(cmd.Context(), client.EventsListOptions{Since: since, Until: until, Filters: f})
			for {
				select {
				case m := <-res.Messages:
					if tmpl != nil {
						if err := tmpl.Write(m); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintln(c.Out, formatEvent(m))
				case err := <-res.Err:
					if err == nil || cmd.Context().Err() != nil {
						return nil
					}
					if strings.Contains(err.Error(), "EOF") {
						return nil
					}
					return err
				}
			}
		},
	}
	fl := commandFlags(cmd)
	fl.VarP(newListValue(&filters), "filter", "f", "Filter output based on conditions provided")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	fl.StringVar(&since, "since", "", "Show all events created since timestamp")
	fl.StringVar(&until, "until", "", "Stream events until this timestamp")
	return cmd
}

// formatEvent is docker's default line for an event.
func formatEvent(m events.Message) string {
	var b strings.Builder
	if m.TimeNano != 0 {
		b.WriteString(time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"))
	} else if m.Time != 0 {
		b.WriteString(time.Unix(m.Time, 0).Format("2006-01-02T15:04:05.000000000Z07:00"))
	}
	fmt.Fprintf(&b, " %s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = k + "=" + m.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(kv, ", "))
	}
	return b.String()
}
