// Command pull measures how long pulling and unpacking a ~200 MB image
// from a local registry takes, side by side for capsa, podman, and skopeo
// with umoci, each from an empty store every time.
//
//	go run ./bench/pull [-n 5] [-warmup 1] [-tools capsa,podman,skopeo] [-layers 5] [-layer-mib 40]
//
// It needs root, Debian's docker-registry, podman, skopeo and umoci
// (scripts/install-bench-deps.sh), and bin/capsad and bin/capsa (make
// build; capsa is skipped with a note when they are not built). See
// README.md beside this file for what each figure means; namespace.go for
// the mount namespace the bench runs in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	n        int
	warmup   int
	binDir   string
	tools    string
	layers   int
	layerMiB int
	keep     bool
	timeout  time.Duration
}

// bench is the inner process's shared state.
type bench struct {
	options
	spec   imageSpec
	tmp    string // the run's temp dir
	tmpdir string // TMPDIR of every tool, on disk in tmp
	reg    *registry

	// capsaUnpackedOnPull is how many unpacked layer files were in
	// capsad's data root right after the first `capsa pull` (nil: capsa
	// did not get that far).
	capsaUnpackedOnPull *int
}

// repo is the image's repository in the registry.
const repo = "bench/pull"

var allTools = []string{"capsa", "podman", "skopeo"}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 5, "measured pulls per tool")
	flag.IntVar(&o.warmup, "warmup", 1, "uncounted pulls per tool first")
	flag.StringVar(&o.binDir, "bin", "bin", "where capsad, capsa, capsa-runtime, capsa-shim and capsa-init are")
	flag.StringVar(&o.tools, "tools", strings.Join(allTools, ","), "tools to measure, comma-separated, in this round-robin order")
	flag.IntVar(&o.layers, "layers", 5, "layers in the image")
	flag.IntVar(&o.layerMiB, "layer-mib", 40, "MiB of random bytes in each layer")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (image layout, registry storage, logs) for debugging")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "kill one tool command that takes longer")
	flag.Parse()
	if o.n < 1 || o.warmup < 0 || o.layers < 1 || o.layerMiB < 1 {
		fmt.Fprintln(os.Stderr, "pull bench: -n, -layers and -layer-mib must be at least 1, -warmup not negative")
		os.Exit(2)
	}
	for _, name := range splitList(o.tools) {
		if !slices.Contains(allTools, name) {
			fmt.Fprintf(os.Stderr, "pull bench: unknown tool %q (known: %s)\n", name, strings.Join(allTools, ", "))
			os.Exit(2)
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "pull bench: run as root (it starts capsad and podman with their own storage)")
		os.Exit(2)
	}
	tmp := os.Getenv(stageEnv)
	if tmp == "" {
		os.Exit(runOuter(o.keep))
	}
	bin, err := filepath.Abs(o.binDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pull bench: %v\n", err)
		os.Exit(1)
	}
	o.binDir = bin
	b := &bench{options: o, tmp: tmp, spec: imageSpec{layers: o.layers, layerBytes: int64(o.layerMiB) << 20}}
	if err := b.run(); err != nil {
		fmt.Fprintf(os.Stderr, "pull bench: %v\n", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// env is the environment of every tool: the bench's own TMPDIR, on disk.
func (b *bench) env() []string {
	return append(os.Environ(), "TMPDIR="+b.tmpdir)
}

// ref is the image's reference in the registry.
func (b *bench) ref() string { return b.reg.addr + "/" + repo + ":latest" }

// run is the inner process: image, registry, measure, report, clean up.
func (b *bench) run() (retErr error) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := enterNamespace(); err != nil {
		return err
	}
	b.tmpdir = filepath.Join(b.tmp, "tmpdir")
	if err := os.Mkdir(b.tmpdir, 0o700); err != nil {
		return err
	}

	start := time.Now()
	img, err := writeLayout(filepath.Join(b.tmp, "image"), b.spec)
	if err != nil {
		return fmt.Errorf("make the image: %w", err)
	}
	fmt.Printf("pull bench: image of %d layers x %d MiB random bytes: %.1f MB gzipped, %.1f MB unpacked, made in %.1fs (%s)\n",
		b.spec.layers, b.layerMiB, float64(img.compressedSize)/1e6, float64(img.unpackedSize)/1e6, time.Since(start).Seconds(), img.manifest)

	b.reg, err = startRegistry(ctx, filepath.Join(b.tmp, "registry"))
	if err != nil {
		return err
	}
	defer func() {
		if err := b.reg.stop(); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	start = time.Now()
	if err := b.reg.push(ctx, img, repo, b.env()); err != nil {
		return err
	}
	fmt.Printf("pull bench: %s (docker-registry, pid %d) pushed by skopeo in %.1fs; private state in %s\n",
		b.ref(), b.reg.cmd.Process.Pid, time.Since(start).Seconds(), b.tmp)
	if !b.keep {
		defer os.RemoveAll(filepath.Join(b.tmp, "image"))
	}

	makers := map[string]func() (*tool, error){"capsa": b.capsaTool, "podman": b.podmanTool, "skopeo": b.skopeoTool}
	var tools []*tool
	var notes []string
	for _, name := range splitList(b.tools) {
		t, err := makers[name]()
		if err != nil {
			if strings.HasPrefix(err.Error(), "not ") {
				fmt.Printf("  %-7s skipped: %v\n", name, err)
				notes = append(notes, name+" skipped: "+err.Error())
				continue
			}
			return fmt.Errorf("set up %s: %w", name, err)
		}
		fmt.Printf("  %-7s %s\n", name, t.note)
		tools = append(tools, t)
	}
	notes = append(notes, "docker not measured: this bench runs no dockerd (bench/engine does, in its own network namespace); the issue's figure here: docker 1.54 s")
	if len(tools) == 0 {
		return errors.New("no tool to measure")
	}

	r, err := b.measure(ctx, tools)
	if err != nil {
		return err
	}
	r.notes = notes
	if n := b.capsaUnpackedOnPull; n != nil {
		// Counted in the data root right after the first pull.
		if *n == b.spec.layers {
			r.notes = append(r.notes, fmt.Sprintf("capsa pull unpacked all %d layers before it returned", *n))
		} else {
			r.notes = append(r.notes, fmt.Sprintf("capsa pull had unpacked %d of the %d layers when it returned: its create unpacked the rest", *n, b.spec.layers))
		}
	}
	r.print(os.Stdout)
	var failed []string
	for _, t := range tools {
		if t.failed != nil {
			failed = append(failed, t.name+": "+t.failed.Error())
		}
	}

	if left := mountsUnder(b.tmp); len(left) > 0 {
		unmountUnder(b.tmp)
		return fmt.Errorf("cleanup check: mounts left under %s (unmounted): %s", b.tmp, strings.Join(left, " "))
	}
	if left := mountsUnder(runDir); len(left) > 0 {
		unmountUnder(runDir)
		return fmt.Errorf("cleanup check: mounts left under %s (unmounted): %s", runDir, strings.Join(left, " "))
	}
	fmt.Println("cleanup check (stores): ok (every store removed after its iteration, no mount left)")
	if len(failed) > 0 {
		return fmt.Errorf("%d tool(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// measure runs the iterations round-robin: each iteration runs every tool
// once, in turn, so that drift on the machine (other builds, page cache)
// hits them alike. Between two tools all dirty pages are written back
// (sync, not timed), so that one tool's writeback does not slow the next.
func (b *bench) measure(ctx context.Context, tools []*tool) (*results, error) {
	r := &results{}
	for _, t := range tools {
		r.addTool(t)
	}
	fmt.Printf("pull: %d iterations per tool (+%d warm-up), round-robin, each from an empty store\n", b.n, b.warmup)
	for i := -b.warmup; i < b.n; i++ {
		var line []string
		for _, t := range tools {
			if t.failed != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, errors.New("interrupted")
			}
			unix.Sync()
			cctx, cancel := context.WithTimeout(ctx, b.timeout)
			ds, err := t.iterate(cctx, i+b.warmup)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil, errors.New("interrupted")
				}
				// The others go on: one tool's failure still leaves a
				// comparison of the rest, and the run fails at the end.
				t.failed = fmt.Errorf("iteration %d: %w", i+b.warmup, err)
				fmt.Printf("  %s FAILED, leaves the bench: %v\n", t.name, t.failed)
				continue
			}
			if i >= 0 {
				r.record(t, ds)
			}
			line = append(line, t.name+" "+formatSteps(t.steps, ds))
		}
		label := fmt.Sprintf("%d", i+1)
		if i < 0 {
			label = "warm-up"
		}
		fmt.Printf("  %-7s %s\n", label, strings.Join(line, "; "))
	}
	return r, nil
}

func formatSteps(steps []string, ds []time.Duration) string {
	var parts []string
	for i, d := range ds {
		parts = append(parts, fmt.Sprintf("%s %.2fs", steps[i], d.Seconds()))
	}
	return strings.Join(parts, " + ")
}
