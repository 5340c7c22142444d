package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/engine"
)

// statsInterval is how often a stats stream samples, as dockerd's.
const statsInterval = time.Second

func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	in, err := s.e.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	oneShot := boolValue(r, "one-shot")
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	var prev container.StatsResponse
	first := true
	for {
		cur := s.sample(r.Context(), in)
		cur.PreCPUStats, cur.PreRead = prev.CPUStats, prev.Read
		// A single answer carries a previous sample, so that a client can
		// compute the CPU use (docker stats --no-stream), unless one-shot.
		if !stream && first && !oneShot {
			first = false
			prev = cur
			select {
			case <-r.Context().Done():
				return nil
			case <-time.After(statsInterval / 2):
			}
			continue
		}
		first = false
		if err := enc.Encode(cur); err != nil {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !stream {
			return nil
		}
		prev = cur
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(statsInterval):
		}
	}
}

// sample reads the container's usage now; a container that does not run
// gives zeros, as docker's.
func (s *Server) sample(ctx context.Context, in engine.Info) container.StatsResponse {
	out := container.StatsResponse{ID: in.ID, Name: "/" + in.Name, OSType: "linux", Read: time.Now().UTC()}
	st, err := s.e.Stats(ctx, in.ID)
	if err != nil {
		out.Read = time.Time{}
		return out
	}
	out.CPUStats = cpuStats(st)
	out.MemoryStats = container.MemoryStats{
		Usage: st.Memory.Usage.Usage, MaxUsage: st.Memory.Usage.Max, Failcnt: st.Memory.Usage.Failcnt,
		Limit: st.Memory.Usage.Limit, Stats: st.Memory.Raw,
	}
	if total := memTotal(); out.MemoryStats.Limit == 0 || out.MemoryStats.Limit > total {
		out.MemoryStats.Limit = total
	}
	out.PidsStats = container.PidsStats{Current: st.Pids.Current, Limit: st.Pids.Limit}
	for _, e := range st.Blkio.IoServiceBytesRecursive {
		out.BlkioStats.IoServiceBytesRecursive = append(out.BlkioStats.IoServiceBytesRecursive,
			container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

func cpuStats(st cgroup.Stats) container.CPUStats {
	return container.CPUStats{
		CPUUsage: container.CPUUsage{
			TotalUsage: st.CPU.Usage.Total, PercpuUsage: st.CPU.Usage.Percpu,
			UsageInKernelmode: st.CPU.Usage.Kernel, UsageInUsermode: st.CPU.Usage.User,
		},
		SystemUsage: systemCPUUsage(),
		OnlineCPUs:  uint32(runtime.NumCPU()),
		ThrottlingData: container.ThrottlingData{
			Periods: st.CPU.Throttling.Periods, ThrottledPeriods: st.CPU.Throttling.ThrottledPeriods,
			ThrottledTime: st.CPU.Throttling.ThrottledTime,
		},
	}
}

// systemCPUUsage is the host's CPU time in nanoseconds, from /proc/stat's
// cpu line (USER_HZ is 100 on Linux), as dockerd reports it.
func systemCPUUsage() uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range f[1:8] {
			n, _ := strconv.ParseUint(v, 10, 64)
			ticks += n
		}
		return ticks * (1e9 / 100)
	}
	return 0
}

// memTotal is the host's memory in bytes.
func memTotal() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
