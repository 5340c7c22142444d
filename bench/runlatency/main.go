// Command runlatency measures `run` of a container that executes `true`,
// side by side for capsa-runtime, runc and crun.
//
//	go run ./bench/runlatency [-n 100] [-warmup 3] [-timeout 30s]
//
// It needs root and /bin/busybox (Debian's busybox-static). capsa-runtime is
// $CAPSA_RUNTIME, else bin/capsa-runtime; runc and crun are looked up on
// PATH. A runtime that is not there is skipped with a note.
//
// Each iteration runs every runtime once, in a fixed order (capsa, runc,
// crun), so that drift on the machine hits them alike; a few warm-up rounds
// come first and are not counted. Each run is
//
//	<runtime> --root <temp state dir> run --bundle <bundle> <id>
//
// with stdin and stdout on /dev/null, in the runtime's own bundle (a busybox
// rootfs, read-only, and the config that `runc spec` gives less the terminal
// and the /sys/fs/cgroup mount, with ociVersion 1.0.2 and cgroupsPath
// /capsa-bench/<tag>-<runtime>). All runtimes run in one private mount
// namespace without /sys/fs/cgroup/unified (see namespace.go).
//
// What is measured, per run:
//   - wall: from just before fork to the return of wait4 on the runtime
//     process, so the whole create-start-wait-delete of `run`;
//   - peak RSS: ru_maxrss from that wait4. Linux reports there the largest
//     resident set of the runtime process over its life and of each child it
//     waited for (for example runc's `runc init` and, before its execve, the
//     container process), not a sum over the tree. It is what GNU time's
//     "Maximum resident set size" shows.
//
// The table gives the median and the 90th percentile (nearest rank) of wall
// time and the median of peak RSS, then capsa/crun and capsa/runc ratios of
// the medians. A failed run stops the benchmark: its stderr is printed and
// the exit status is 1. State directories, bundles and the cgroups the
// runtimes made are removed at the end.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// runtimeUnderTest is one runtime and what its runs measured.
type runtimeUnderTest struct {
	name    string // short name for ids and the table: capsa, runc, crun
	path    string
	version string
	bundle  string
	state   string // --root
	cgroup  string // linux.cgroupsPath in its config

	wall []time.Duration
	rss  []int64 // KiB
}

type options struct {
	n       int
	warmup  int
	timeout time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 100, "measured runs per runtime")
	flag.IntVar(&o.warmup, "warmup", 3, "uncounted runs per runtime first")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "kill a run that takes longer")
	flag.Parse()
	if o.n < 1 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "runlatency: -n must be at least 1 and -warmup not negative")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "runlatency: run as root (it creates containers)")
		os.Exit(2)
	}

	tag := os.Getenv(innerEnv)
	if tag == "" {
		os.Exit(runOuter(fmt.Sprintf("rl%d", os.Getpid())))
	}
	if err := runInner(tag, o); err != nil {
		fmt.Fprintf(os.Stderr, "runlatency: %v\n", err)
		os.Exit(1)
	}
}

// runInner runs in the private mount namespace: it prepares the bundles,
// runs the iterations and prints the table.
func runInner(tag string, o options) (retErr error) {
	if err := enterPrivateMounts(); err != nil {
		return err
	}
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		stop.Store(true)
	}()

	tmp, err := os.MkdirTemp("", "capsa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	rts, err := findRuntimes()
	if err != nil {
		return err
	}
	if len(rts) == 0 {
		return errors.New("no runtime to measure")
	}
	for _, rt := range rts {
		rt.bundle = filepath.Join(tmp, "bundle-"+rt.name)
		rt.state = filepath.Join(tmp, "state-"+rt.name)
		rt.cgroup = "/" + cgroupTop + "/" + tag + "-" + rt.name
		if err := makeBundle(rt.bundle, "/bin/busybox", rt.cgroup); err != nil {
			return fmt.Errorf("bundle for %s: %w", rt.name, err)
		}
		if err := os.Mkdir(rt.state, 0o700); err != nil {
			return err
		}
		defer func() {
			if err := deleteLeftovers(rt); err != nil && retErr == nil {
				retErr = err
			}
		}()
	}

	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	fmt.Printf("runlatency: %d runs each (+%d warm-up), interleaved; wall time of `run` of `true`, peak RSS from wait4\n", o.n, o.warmup)
	for i := -o.warmup; i < o.n; i++ {
		for _, rt := range rts {
			if stop.Load() {
				return errors.New("interrupted")
			}
			id := fmt.Sprintf("%s-%s-%d", tag, rt.name, i+o.warmup)
			wall, rss, err := runOnce(rt, id, filepath.Join(tmp, "stderr"), devnull, o.timeout)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", rt.name, i+o.warmup, err)
			}
			if i >= 0 {
				rt.wall = append(rt.wall, wall)
				rt.rss = append(rt.rss, rss)
			}
		}
	}
	printTable(os.Stdout, rts)
	return nil
}

// findRuntimes returns the runtimes that are installed, in run order, and
// notes the ones that are not.
func findRuntimes() ([]*runtimeUnderTest, error) {
	capsa := os.Getenv("CAPSA_RUNTIME")
	if capsa == "" {
		capsa = filepath.Join("bin", "capsa-runtime")
	}
	cands := []struct{ name, path string }{
		{"capsa", capsa},
		{"runc", "runc"},
		{"crun", "crun"},
	}
	var rts []*runtimeUnderTest
	for _, c := range cands {
		p, err := exec.LookPath(c.path)
		if err != nil {
			fmt.Printf("runlatency: %s skipped: %s not found\n", c.name, c.path)
			continue
		}
		if p, err = filepath.Abs(p); err != nil {
			return nil, err
		}
		out, _ := exec.Command(p, "--version").Output()
		v, _, _ := strings.Cut(string(out), "\n")
		rts = append(rts, &runtimeUnderTest{name: c.name, path: p, version: strings.TrimSpace(v)})
	}
	return rts, nil
}

// runOnce runs one container with rt and returns the wall time and the
// peak RSS (KiB) that wait4 reports. It forks and waits itself, rather than
// through os/exec, so that nothing but fork, execve and wait4 is timed.
func runOnce(rt *runtimeUnderTest, id, stderrPath string, devnull *os.File, timeout time.Duration) (time.Duration, int64, error) {
	errf, err := os.OpenFile(stderrPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer errf.Close()
	argv := []string{rt.path, "--root", rt.state, "run", "--bundle", rt.bundle, id}
	attr := &syscall.ProcAttr{
		Dir:   rt.bundle,
		Env:   os.Environ(),
		Files: []uintptr{devnull.Fd(), devnull.Fd(), errf.Fd()},
	}

	start := time.Now()
	pid, err := syscall.ForkExec(rt.path, argv, attr)
	if err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", rt.path, err)
	}
	// The pidfd names this process even after it is reaped, so the timer
	// cannot kill a recycled pid.
	if pidfd, err := unix.PidfdOpen(pid, 0); err == nil {
		t := time.AfterFunc(timeout, func() { _ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) })
		defer func() { t.Stop(); unix.Close(pidfd) }()
	}
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err = unix.Wait4(pid, &ws, 0, &ru)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	wall := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("wait4: %w", err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return wall, ru.Maxrss, nil
	}
	msg, _ := os.ReadFile(stderrPath)
	how := fmt.Sprintf("exit status %d", ws.ExitStatus())
	if ws.Signaled() {
		how = "killed by " + ws.Signal().String()
		if ws.Signal() == unix.SIGKILL && wall >= timeout {
			how += fmt.Sprintf(" after the %v timeout", timeout)
		}
	}
	return 0, 0, fmt.Errorf("%s: %s\n%s", strings.Join(argv, " "), how, bytes.TrimSpace(msg))
}

// deleteLeftovers force-deletes any container still in rt's state
// directory (a failed or interrupted run) so that its cgroup can go.
func deleteLeftovers(rt *runtimeUnderTest) error {
	entries, err := os.ReadDir(rt.state)
	if err != nil {
		return nil // never made, or already gone
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		out, err := exec.Command(rt.path, "--root", rt.state, "delete", "--force", e.Name()).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s delete %s: %w: %s", rt.name, e.Name(), err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

func printTable(w *os.File, rts []*runtimeUnderTest) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "runtime\truns\tmedian ms\tp90 ms\tpeak RSS MiB\tversion\t")
	med := map[string]float64{}
	rss := map[string]float64{}
	for _, rt := range rts {
		ms := make([]float64, len(rt.wall))
		for i, d := range rt.wall {
			ms[i] = float64(d.Microseconds()) / 1000
		}
		kib := make([]float64, len(rt.rss))
		for i, k := range rt.rss {
			kib[i] = float64(k)
		}
		med[rt.name] = percentile(ms, 50)
		rss[rt.name] = percentile(kib, 50) / 1024
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.1f\t%s\t\n",
			rt.name, len(rt.wall), med[rt.name], percentile(ms, 90), rss[rt.name], rt.version)
	}
	tw.Flush()
	if _, ok := med["capsa"]; !ok {
		return
	}
	for _, peer := range []string{"crun", "runc"} {
		if _, ok := med[peer]; ok {
			fmt.Fprintf(w, "capsa/%s: %.2fx median time, %.2fx median peak RSS\n",
				peer, med["capsa"]/med[peer], rss["capsa"]/rss[peer])
		}
	}
}

// percentile returns the p-th percentile of xs by nearest rank, except
// that the 50th is the usual median (the mean of the middle two of an even
// count).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if p == 50 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}
