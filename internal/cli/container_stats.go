package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{
	"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
	"BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

func (c *CLI) newStatsCommand() *cobra.Command {
	var all, noStream, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				res, err := cl.ContainerList(ctx, client.ContainerListOptions{All: all})
				if err != nil {
					return err
				}
				for _, it := range res.Items {
					names = append(names, it.ID)
				}
			}
			if format == "" {
				format = defaultStatsFormat
			}
			for {
				rows, errs := sampleStats(ctx, cl, names, !noTrunc)
				if len(errs) > 0 && len(rows) == 0 {
					return multiError(errs)
				}
				if !noStream {
					fmt.Fprint(c.Out, "\033[2J\033[H")
				}
				f, err := newFormatter(c.Out, format, statsHeaders)
				if err != nil {
					return StatusError{Status: err.Error(), StatusCode: 1}
				}
				for _, r := range rows {
					if err := f.Write(r); err != nil {
						return err
					}
				}
				if err := f.Flush(); err != nil {
					return err
				}
				if noStream {
					return multiError(errs)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	f := commandFlags(cmd)
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	return cmd
}

// sampleStats takes one sample (with its predecessor, for CPU %) of each
// container, side by side.
func sampleStats(ctx context.Context, cl *client.Client, names []string, trunc bool) ([]*statsRow, []string) {
	rows := make([]*statsRow, len(names))
	errs := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cl.ContainerStats(ctx, name, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: true})
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer res.Body.Close()
			var s container.StatsResponse
			if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&s); err != nil {
				errs[i] = fmt.Sprintf("stats of %s: %v", name, err)
				return
			}
			rows[i] = &statsRow{s: s, container: name, trunc: trunc}
		}()
	}
	wg.Wait()
	var outRows []*statsRow
	var outErrs []string
	for i := range names {
		if rows[i] != nil {
			outRows = append(outRows, rows[i])
		} else if errs[i] != "" {
			outErrs = append(outErrs, errs[i])
		}
	}
	sort.SliceStable(outRows, func(i, j int) bool { return false })
	return outRows, outErrs
}

// statsRow is one line of stats.
type statsRow struct {
	s         container.StatsResponse
	container string
	trunc     bool
}

func (r *statsRow) Container() string { return r.container }

func (r *statsRow) ID() string {
	if r.trunc {
		return truncateID(r.s.ID)
	}
	return r.s.ID
}

func (r *statsRow) Name() string {
	if n := strings.TrimPrefix(r.s.Name, "/"); n != "" {
		return n
	}
	return "--"
}

func (r *statsRow) cpuPercent() float64 {
	cpuDelta := float64(r.s.CPUStats.CPUUsage.TotalUsage) - float64(r.s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(r.s.CPUStats.SystemUsage) - float64(r.s.PreCPUStats.SystemUsage)
	n := float64(r.s.CPUStats.OnlineCPUs)
	if n == 0 {
		n = float64(len(r.s.CPUStats.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		return cpuDelta / sysDelta * n * 100
	}
	return 0
}

func (r *statsRow) memUsage() float64 {
	m := r.s.MemoryStats
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[k]; ok && v < m.Usage {
			return float64(m.Usage - v)
		}
	}
	return float64(m.Usage)
}

func (r *statsRow) CPUPerc() string { return fmt.Sprintf("%.2f%%", r.cpuPercent()) }

func (r *statsRow) MemUsage() string {
	return units.BytesSize(r.memUsage()) + " / " + units.BytesSize(float64(r.s.MemoryStats.Limit))
}

func (r *statsRow) MemPerc() string {
	if r.s.MemoryStats.Limit == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", r.memUsage()/float64(r.s.MemoryStats.Limit)*100)
}

func (r *statsRow) NetIO() string {
	var rx, tx float64
	for _, n := range r.s.Networks {
		rx += float64(n.RxBytes)
		tx += float64(n.TxBytes)
	}
	return units.HumanSizeWithPrecision(rx, 3) + " / " + units.HumanSizeWithPrecision(tx, 3)
}

func (r *statsRow) BlockIO() string {
	var rd, wr float64
	for _, e := range r.s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += float64(e.Value)
		case "write":
			wr += float64(e.Value)
		}
	}
	return units.HumanSizeWithPrecision(rd, 3) + " / " + units.HumanSizeWithPrecision(wr, 3)
}

func (r *statsRow) PIDs() string { return fmt.Sprint(r.s.PidsStats.Current) }

// MarshalJSON is what {{json .}} and --format json print.
func (r *statsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"BlockIO": r.BlockIO(), "CPUPerc": r.CPUPerc(), "Container": r.Container(), "ID": r.ID(),
		"MemPerc": r.MemPerc(), "MemUsage": r.MemUsage(), "Name": r.Name(), "NetIO": r.NetIO(), "PIDs": r.PIDs(),
	})
}
