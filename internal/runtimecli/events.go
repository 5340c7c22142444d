package runtimecli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// event is one line of `events` output, in runc's format.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func eventsCmd(g *globals) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [--stats] [--interval 5s] CONTAINER_ID",
		Short: "print a container's OOM events and resource usage as JSON lines",
		Args:  exactArgs(1, "capsa-runtime events [flags] CONTAINER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			if stats {
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v: must be positive", interval)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			ooms, err := c.OOMEvents(ctx)
			if err != nil {
				return err
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case _, ok := <-ooms:
					if !ok {
						ooms = nil
						continue
					}
					if err := enc.Encode(event{Type: "oom", ID: c.ID()}); err != nil {
						return err
					}
				case <-tick.C:
					if !c.Running() {
						return nil
					}
					s, err := c.Stats()
					if err != nil {
						return err
					}
					if err := enc.Encode(event{Type: "stats", ID: c.ID(), Data: s}); err != nil {
						return err
					}
				case <-ctx.Done():
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print the usage once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "how often to print usage")
	return cmd
}
