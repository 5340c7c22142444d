package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// series is one engine in one configuration and what it measured.
type series struct {
	e       *engine
	network string // "" (the engine's default) or "none"
	wall    []time.Duration
}

// memory is what the shims of one engine's running containers take.
type memory struct {
	e          *engine
	shims      int
	containers int
	rss, pss   []float64 // KiB, per shim
	daemonRSS  float64   // KiB, all its daemons together
	daemonPSS  float64
}

// perContainer is the shims' PSS over the containers, in KiB; NaN when
// no shim was found.
func (m *memory) perContainer() float64 {
	if m.shims == 0 || m.containers == 0 {
		return math.NaN()
	}
	return sum(m.pss) / float64(m.containers)
}

type results struct {
	runDefault []*series // run --rm, default network
	runNone    []*series // run --rm, --network none (ctr: no network)
	detached   []*series // run -d, one figure per container
	removeEach map[string]time.Duration
	memory     []*memory
}

// measureRunRm runs `run --rm busybox true` round-robin over every engine
// and network mode: each iteration runs each series once, so that drift on
// the machine hits them alike.
func (b *bench) measureRunRm(ctx context.Context, engines []*engine, r *results) error {
	var all []*series
	for _, e := range engines {
		if e.hasNetwork {
			s := &series{e: e}
			r.runDefault = append(r.runDefault, s)
			all = append(all, s)
		}
	}
	for _, e := range engines {
		s := &series{e: e, network: "none"}
		if !e.hasNetwork {
			s.network = "" // ctr: its only mode has no network
		}
		r.runNone = append(r.runNone, s)
		all = append(all, s)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	fmt.Printf("run --rm busybox true: %d runs per series (+%d warm-up), round-robin over %d series\n", b.n, b.warmup, len(all))
	for i := -b.warmup; i < b.n; i++ {
		for j, s := range all {
			if s.e.failed != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return errors.New("interrupted")
			}
			id := fmt.Sprintf("rm%d-%d", j, i+b.warmup)
			cctx, cancel := context.WithTimeout(ctx, b.timeout)
			d, err := s.e.timed(cctx, devnull, s.e.runArgs(id, s.network, "true")...)
			cancel()
			if err != nil && ctx.Err() != nil {
				return errors.New("interrupted")
			}
			if err != nil {
				s.e.failed = err
				fmt.Printf("  %s FAILED, leaves the bench: %v\n", s.e.name, err)
				continue
			}
			if i >= 0 {
				s.wall = append(s.wall, d)
			}
		}
	}
	return nil
}

// measureDetached starts b.detached containers running `sleep 1000` per
// engine, one engine after the other for each container, measures the
// shims' memory with all of them running, then removes them.
func (b *bench) measureDetached(ctx context.Context, engines []*engine, r *results) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	var all []*series
	for _, e := range engines {
		s := &series{e: e}
		all = append(all, s)
		r.detached = append(r.detached, s)
	}
	ids := map[*engine][]string{}
	fmt.Printf("run -d busybox sleep 1000: %d containers per engine, round-robin\n", b.detached)
	var runErr error
	for i := 0; i < b.detached && runErr == nil; i++ {
		for _, s := range all {
			if s.e.failed != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				runErr = errors.New("interrupted")
				break
			}
			id := fmt.Sprintf("d%d", i)
			cctx, cancel := context.WithTimeout(ctx, b.timeout)
			d, err := s.e.timed(cctx, devnull, s.e.detachArgs(id, "sleep", "1000")...)
			cancel()
			// Even a failed run may have left the container: remove it too.
			ids[s.e] = append(ids[s.e], id)
			if err != nil && ctx.Err() != nil {
				runErr = errors.New("interrupted")
				break
			}
			if err != nil {
				s.e.failed = err
				fmt.Printf("  %s FAILED, leaves the bench: %v\n", s.e.name, err)
				continue
			}
			s.wall = append(s.wall, d)
		}
	}
	if runErr == nil {
		// Let the shims settle (lazy allocations at start, the first GC).
		time.Sleep(2 * time.Second)
		for _, s := range all {
			if s.e.failed == nil {
				r.memory = append(r.memory, measureMemory(s.e, len(s.wall)))
			}
		}
	}
	r.removeEach = map[string]time.Duration{}
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	for _, s := range all {
		if len(ids[s.e]) == 0 {
			continue
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := s.e.removeAll(cctx, ids[s.e])
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.removeEach[s.e.name] = time.Since(start) / time.Duration(len(ids[s.e]))
	}
	return errors.Join(errs...)
}

// measureMemory finds e's shims and daemons in this pid namespace's /proc
// and reads their VmRSS and PSS.
func measureMemory(e *engine, containers int) *memory {
	m := &memory{e: e, containers: containers}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err != nil {
			continue
		}
		base := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
		rss, pss := procMemory(pid)
		switch {
		case base == e.shimExe:
			if e.shimMatch != "" {
				cl, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
				if !contains(strings.Split(string(cl), "\x00"), e.shimMatch) {
					continue
				}
			}
			m.shims++
			m.rss = append(m.rss, rss)
			m.pss = append(m.pss, pss)
		case contains(e.daemonExe, base) && isDescendant(pid, e):
			m.daemonRSS += rss
			m.daemonPSS += pss
		}
	}
	return m
}

// isDescendant tells whether pid is e's daemon or a child of it (dockerd's
// containerd).
func isDescendant(pid int, e *engine) bool {
	if e.daemon == nil {
		return false
	}
	root := e.daemon.Process.Pid
	for i := 0; i < 4 && pid > 1; i++ {
		if pid == root {
			return true
		}
		pid = parentPid(pid)
	}
	return false
}

func parentPid(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// procMemory returns VmRSS from status and Pss from smaps_rollup, in KiB.
func procMemory(pid int) (rss, pss float64) {
	return kibField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:"), kibField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
}

func kibField(path, key string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				v, _ := strconv.ParseFloat(fs[0], 64)
				return v
			}
		}
	}
	return 0
}

// percentile returns the p-th percentile of xs by nearest rank, except
// that the 50th is the usual median (the mean of the middle two of an even
// count).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if p == 50 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func ms(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Microseconds()) / 1000
	}
	return out
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// mib formats KiB as MiB, "-" for no figure.
func mib(kib float64) string {
	if math.IsNaN(kib) {
		return "-"
	}
	return fmt.Sprintf("%.2f", kib/1024)
}

// ratio formats capsa's figure over the engine's: below 1 means capsa is
// faster (or smaller).
func ratio(capsa, peer float64) string {
	if math.IsNaN(capsa) || math.IsNaN(peer) || peer == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", capsa/peer)
}

func median(s *series) float64 { return percentile(ms(s.wall), 50) }

func find(ss []*series, name string) *series {
	for _, s := range ss {
		if s.e.name == name && len(s.wall) > 0 {
			return s
		}
	}
	return nil
}

func seriesMedian(ss []*series, name string) float64 {
	if s := find(ss, name); s != nil {
		return median(s)
	}
	return math.NaN()
}

func label(s *series) string {
	switch {
	case s.e.name == "containerd":
		return "ctr (none)"
	case s.network == "none":
		return s.e.name + " --network none"
	}
	return s.e.name + " (default)"
}

func (r *results) printTimes(w io.Writer, title string, ss []*series) {
	if len(ss) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\truns\tmedian ms\tp90 ms\tcapsa/this\t")
	capsa := seriesMedian(ss, "capsa")
	for _, s := range ss {
		if len(s.wall) == 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t\n", label(s))
			continue
		}
		x := ms(s.wall)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%s\t\n", label(s), len(x), percentile(x, 50), percentile(x, 90), ratio(capsa, percentile(x, 50)))
	}
	tw.Flush()
}

func (r *results) print(w io.Writer, engines []*engine) {
	fmt.Fprintln(w, "\nengines:")
	for _, e := range engines {
		state := "measured"
		if e.failed != nil {
			state = "FAILED or skipped: " + e.failed.Error()
		}
		fmt.Fprintf(w, "  %-10s runtime %s; %s; %s\n", e.name, e.runtime, e.netNote, state)
	}
	r.printTimes(w, "run --rm busybox true, the engine's default network (wall time of the CLI):", r.runDefault)
	r.printTimes(w, "run --rm busybox true, no network (--network none; ctr: none is its only mode):", r.runNone)
	r.printTimes(w, "run -d busybox sleep 1000, per container, containers started one after another:", r.detached)
	if len(r.removeEach) > 0 {
		fmt.Fprint(w, "  removal (rm -f; ctr task rm -f + container rm), in batches, per container:")
		for _, s := range r.detached {
			if d, ok := r.removeEach[s.e.name]; ok {
				fmt.Fprintf(w, " %s %.0f ms", s.e.name, float64(d.Microseconds())/1000)
			}
		}
		fmt.Fprintln(w)
	}
	if len(r.memory) > 0 {
		fmt.Fprintln(w, "\nmemory of the per-container shim, with every detached container running (KiB = /proc VmRSS; PSS from smaps_rollup):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "engine\tshim\tcontainers\tshims\tmedian RSS MiB\tmedian PSS MiB\tPSS MiB/container\tcapsa/this PSS\tdaemons RSS MiB\tdaemons PSS MiB\t")
		var capsaPSS = math.NaN()
		for _, m := range r.memory {
			if m.e.name == "capsa" {
				capsaPSS = m.perContainer()
			}
		}
		var notes []string
		for _, m := range r.memory {
			perC := m.perContainer()
			if m.shims == 0 {
				notes = append(notes, fmt.Sprintf("%s: no %s process found with its containers running", m.e.name, m.e.shimExe))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t\n", m.e.name, m.e.shimExe, m.containers, m.shims,
				mib(percentile(m.rss, 50)), mib(percentile(m.pss, 50)), mib(perC), ratio(capsaPSS, perC), m.daemonRSS/1024, m.daemonPSS/1024)
		}
		tw.Flush()
		for _, n := range notes {
			fmt.Fprintln(w, "  note: "+n)
		}
	}
	r.printBridgeCost(w)
	r.printSummary(w)
}

// bridgeCost is what an engine's default network adds to one run --rm:
// the median with it less the median with --network none, in ms.
// paired is, for information, the median of the differences within each
// iteration (the two runs of an iteration are close in time, so drift on
// the machine cancels out).
type bridgeCost struct {
	name                        string
	withNet, none, cost, paired float64
}

// bridgeCosts gives the cost of the default network of every engine that
// has both series measured, in the order of runDefault.
func bridgeCosts(runDefault, runNone []*series) []bridgeCost {
	var out []bridgeCost
	for _, d := range runDefault {
		if len(d.wall) == 0 || !d.e.hasNetwork || d.network != "" {
			continue
		}
		var n *series
		for _, s := range runNone {
			if s.e == d.e && s.network == "none" && len(s.wall) > 0 {
				n = s
			}
		}
		if n == nil {
			continue
		}
		var diffs []float64
		for i := 0; i < min(len(d.wall), len(n.wall)); i++ {
			diffs = append(diffs, float64((d.wall[i]-n.wall[i]).Microseconds())/1000)
		}
		out = append(out, bridgeCost{name: d.e.name, withNet: median(d), none: median(n), cost: median(d) - median(n),
			paired: percentile(diffs, 50)})
	}
	return out
}

func costOf(cs []bridgeCost, name string) float64 {
	for _, c := range cs {
		if c.name == name {
			return c.cost
		}
	}
	return math.NaN()
}

func (r *results) printBridgeCost(w io.Writer) {
	cs := bridgeCosts(r.runDefault, r.runNone)
	if len(cs) == 0 {
		return
	}
	fmt.Fprintln(w, "\ncost of the default network (bridge) per run --rm: median(default) - median(--network none):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tdefault ms\tnone ms\tbridge cost ms\tcapsa/this\tpaired median ms\t")
	capsa := costOf(cs, "capsa")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%s\t%.1f\t\n", c.name, c.withNet, c.none, c.cost, ratio(capsa, c.cost), c.paired)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (paired median: the median of (default - none) within each iteration, for information: less sensitive to drift)")
}

// printSummary prints the block to compare runs by: medians, ratios and the
// issue's goals.
func (r *results) printSummary(w io.Writer) {
	fmt.Fprintln(w, "\n== summary: medians; capsa/X below 1 means capsa is faster or smaller ==")
	line := func(title string, ss []*series) {
		fmt.Fprintf(w, "%-34s", title)
		capsa := seriesMedian(ss, "capsa")
		for _, s := range ss {
			if len(s.wall) == 0 {
				continue
			}
			fmt.Fprintf(w, "  %s %.0f ms", s.e.name, median(s))
			if s.e.name != "capsa" && !math.IsNaN(capsa) {
				fmt.Fprintf(w, " (capsa/%s %s)", s.e.name, ratio(capsa, median(s)))
			}
		}
		fmt.Fprintln(w)
	}
	line("run --rm true, default network:", r.runDefault)
	line("run --rm true, no network:", r.runNone)
	line("run -d sleep, per container:", r.detached)
	if len(r.memory) > 0 {
		fmt.Fprintf(w, "%-34s", "shim PSS per container:")
		for _, m := range r.memory {
			if pc := m.perContainer(); !math.IsNaN(pc) {
				fmt.Fprintf(w, "  %s (%s) %.2f MiB", m.e.name, m.e.shimExe, pc/1024)
			}
		}
		fmt.Fprintln(w)
	}
	capsaDef := seriesMedian(r.runDefault, "capsa")
	capsaNone := seriesMedian(r.runNone, "capsa")
	goal := func(what string, capsa, peer, factor float64) {
		switch {
		case math.IsNaN(capsa):
			fmt.Fprintf(w, "goal %-44s not measured (capsa not built or failed)\n", what+":")
		case math.IsNaN(peer):
			fmt.Fprintf(w, "goal %-44s not measured (peer missing or failed)\n", what+":")
		case capsa <= factor*peer:
			fmt.Fprintf(w, "goal %-44s met (%.0f ms <= %.0f ms)\n", what+":", capsa, factor*peer)
		default:
			fmt.Fprintf(w, "goal %-44s NOT met (%.0f ms > %.0f ms)\n", what+":", capsa, factor*peer)
		}
	}
	goal("capsa <= 0.5 x docker, default network", capsaDef, seriesMedian(r.runDefault, "docker"), 0.5)
	goal("capsa <= 0.5 x podman, default network", capsaDef, seriesMedian(r.runDefault, "podman"), 0.5)
	goal("capsa <= ctr, no network", capsaNone, seriesMedian(r.runNone, "containerd"), 1)

	// The bridge: what the default network adds to a run, and the issue's
	// goal for it, capsa's below docker's.
	cs := bridgeCosts(r.runDefault, r.runNone)
	if len(cs) > 0 {
		fmt.Fprintf(w, "%-34s", "bridge cost per run:")
		sep := " "
		for _, c := range cs {
			fmt.Fprintf(w, "%s %s %.0f ms", sep, c.name, c.cost)
			sep = ","
		}
		capsa := costOf(cs, "capsa")
		sep = ";"
		for _, c := range cs {
			if c.name != "capsa" && !math.IsNaN(capsa) {
				fmt.Fprintf(w, "%s capsa/%s %s", sep, c.name, ratio(capsa, c.cost))
				sep = ","
			}
		}
		fmt.Fprintln(w, "  (median default - median none)")
	}
	what := "capsa's bridge cost < docker's:"
	capsaCost, dockerCost := costOf(cs, "capsa"), costOf(cs, "docker")
	switch {
	case math.IsNaN(capsaCost):
		fmt.Fprintf(w, "goal %-44s not measured (capsa not built or failed)\n", what)
	case math.IsNaN(dockerCost):
		fmt.Fprintf(w, "goal %-44s not measured (docker missing or failed)\n", what)
	case capsaCost < dockerCost:
		fmt.Fprintf(w, "goal %-44s met (%.0f ms < %.0f ms)\n", what, capsaCost, dockerCost)
	default:
		fmt.Fprintf(w, "goal %-44s NOT met (%.0f ms >= %.0f ms)\n", what, capsaCost, dockerCost)
	}
}
