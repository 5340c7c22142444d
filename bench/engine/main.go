// Command engine measures capsa's engine side by side with podman, docker
// and containerd (ctr): the latency of `run --rm busybox true`, the time of
// `run -d` of many containers, and the memory each running container's shim
// takes.
//
//	go run ./bench/engine [-n 20] [-warmup 2] [-detached 50] [-engines capsa,podman,docker,containerd]
//
// It needs root. scripts/install-bench-deps.sh installs the peers; capsa is
// bin/capsad and bin/capsa (make build), skipped with a note when not built.
// See README.md beside this file for what each figure means and how every
// engine is configured; namespace.go for the namespaces the bench runs in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	n             int
	warmup        int
	detached      int
	engines       string
	binDir        string
	podmanRuntime string
	timeout       time.Duration
}

// bench is the worker's shared state.
type bench struct {
	options
	tag        string
	tmp        string
	rootfsTar  string
	archiveTar string

	mountsAtStart map[string]bool // mount ids before any engine started
}

var allEngines = []string{"capsa", "podman", "docker", "containerd"}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 20, "measured `run --rm` per engine and network mode")
	flag.IntVar(&o.warmup, "warmup", 2, "uncounted `run --rm` per engine and network mode first")
	flag.IntVar(&o.detached, "detached", 50, "containers started with `run -d` per engine (0: skip that part and the memory figures)")
	flag.StringVar(&o.engines, "engines", strings.Join(allEngines, ","), "engines to measure, comma-separated")
	flag.StringVar(&o.binDir, "bin", "bin", "where capsad, capsa, capsa-runtime, capsa-shim and capsa-init are")
	flag.StringVar(&o.podmanRuntime, "podman-runtime", "runc", "the OCI runtime podman runs (runc like docker and containerd, or crun)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "kill one engine command that takes longer")
	flag.Parse()
	if o.n < 1 || o.warmup < 0 || o.detached < 0 {
		fmt.Fprintln(os.Stderr, "engine bench: -n must be at least 1, -warmup and -detached not negative")
		os.Exit(2)
	}
	for _, name := range splitList(o.engines) {
		if !contains(allEngines, name) {
			fmt.Fprintf(os.Stderr, "engine bench: unknown engine %q (known: %s)\n", name, strings.Join(allEngines, ", "))
			os.Exit(2)
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "engine bench: run as root (it starts container engines)")
		os.Exit(2)
	}
	switch os.Getenv(stageEnv) {
	case "":
		os.Exit(runOuter(fmt.Sprintf("eb%d", os.Getpid())))
	case "init":
		os.Exit(runInit())
	}
	bin, err := filepath.Abs(o.binDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: %v\n", err)
		os.Exit(1)
	}
	o.binDir = bin
	b := &bench{options: o, tag: os.Getenv(tagEnv), tmp: os.Getenv(tmpEnv)}
	if err := b.run(); err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: %v\n", err)
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

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// run is the worker: set up, measure, report, clean up.
func (b *bench) run() (retErr error) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	b.mountsAtStart = mountIDs()
	// Temp files of every engine and CLI go to the bench's dir too.
	tmpdir := filepath.Join(b.tmp, "tmpdir")
	if err := os.Mkdir(tmpdir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(tmpdir)
	os.Setenv("TMPDIR", tmpdir)

	rootfs, err := rootfsTar()
	if err != nil {
		return err
	}
	archive, err := dockerArchive(rootfs)
	if err != nil {
		return err
	}
	b.rootfsTar = filepath.Join(b.tmp, "busybox-rootfs.tar")
	b.archiveTar = filepath.Join(b.tmp, "busybox-docker-archive.tar")
	if err := os.WriteFile(b.rootfsTar, rootfs, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b.archiveTar, archive, 0o600); err != nil {
		return err
	}
	defer os.Remove(b.rootfsTar)
	defer os.Remove(b.archiveTar)

	setups := map[string]func(context.Context, *bench) (*engine, error){
		"capsa": setupCapsa, "podman": setupPodman, "docker": setupDocker, "containerd": setupContainerd,
	}
	var engines []*engine
	var failures []string
	defer func() {
		// Clean up every engine that got as far as a state dir, whatever
		// happened before.
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer ccancel()
		if err := b.teardown(cctx, engines); err != nil {
			fmt.Println("cleanup check (engines): FAILED")
			for _, l := range strings.Split(err.Error(), "\n") {
				fmt.Println("  - " + l)
			}
			retErr = errors.Join(retErr, errors.New("cleanup failed"))
		} else {
			fmt.Println("cleanup check (engines): ok (no container, image, daemon or mount left)")
		}
		if retErr == nil && len(failures) > 0 {
			retErr = fmt.Errorf("%d engine(s) failed: %s", len(failures), strings.Join(failures, "; "))
		}
	}()

	fmt.Printf("engine bench: tag %s, private state in %s; in private mount, pid and network namespaces, /sys/fs/cgroup/unified unmounted\n", b.tag, b.tmp)
	for _, name := range splitList(b.engines) {
		start := time.Now()
		e, err := setups[name](ctx, b)
		if e != nil {
			engines = append(engines, e)
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "not built") || strings.HasPrefix(err.Error(), "not installed") {
				fmt.Printf("  %-10s skipped: %v\n", name, err)
			} else {
				fmt.Printf("  %-10s FAILED at setup: %v\n", name, err)
				failures = append(failures, name+": "+err.Error())
			}
			if e != nil {
				e.failed = err
			}
			continue
		}
		fmt.Printf("  %-10s ready in %.1fs: %s; runtime %s\n", name, time.Since(start).Seconds(), e.version, e.runtime)
	}
	live := liveEngines(engines)
	if len(live) == 0 {
		return errors.New("no engine to measure")
	}

	r := &results{}
	if err := b.measureRunRm(ctx, live, r); err != nil {
		return err
	}
	if b.detached > 0 {
		if err := b.measureDetached(ctx, liveEngines(engines), r); err != nil {
			return err
		}
	}
	for _, e := range engines {
		if e.failed != nil && !strings.HasPrefix(e.failed.Error(), "not ") && !contains(failures, e.name+": "+e.failed.Error()) {
			failures = append(failures, e.name+": "+e.failed.Error())
		}
	}
	r.print(os.Stdout, engines)
	return nil
}

func liveEngines(engines []*engine) []*engine {
	var out []*engine
	for _, e := range engines {
		if e.failed == nil {
			out = append(out, e)
		}
	}
	return out
}

// teardown removes what each engine holds, stops its daemon by pid, and
// checks that no mount is left under the temp dir.
func (b *bench) teardown(ctx context.Context, engines []*engine) error {
	var errs []error
	for _, e := range engines {
		if e.cleanup != nil && (e.daemon != nil || e.name == "podman") {
			if err := e.cleanup(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.stopDaemon(); err != nil {
			errs = append(errs, err)
		}
	}
	noteNetworksLeft()
	// Mounts an engine left in the bench's mount namespace: reported, then
	// unmounted so that the state dirs can go. (The host's mounts below
	// /run, hidden under the bench's tmpfs, were there at the start.)
	var left []string
	for _, m := range append(mountsUnder(b.tmp, b.mountsAtStart), mountsUnder("/run", b.mountsAtStart)...) {
		if why, ok := persistentMounts[m]; ok {
			fmt.Printf("note: %s stays mounted by design (%s): unmounted with the bench's mount namespace\n", m, why)
			_ = syscallUnmount(m)
			continue
		}
		left = append(left, m)
	}
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("mounts left: %s", strings.Join(left, " ")))
		for _, m := range left {
			_ = syscallUnmount(m)
		}
	}
	for _, e := range engines {
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// persistentMounts are the mounts an engine keeps on purpose in its
// runtime dir, across containers; they go with the bench's /run.
var persistentMounts = map[string]string{
	"/run/netns":              "podman: the netns dir is a shared mount point, as ip-netns makes it",
	"/run/capsa-runtime/.exe": "capsa-runtime: its read-only exe bind mount, made once and reused",
}

// noteNetworksLeft notes capsa's bridge and its iptables rules (tagged
// capsa:<bridge>), which capsad keeps when it stops, as dockerd keeps
// docker0: they are in the bench's network namespace and go with it (the
// outer process checks that the host's links and rules are unchanged).
func noteNetworksLeft() {
	// By netlink: /sys is the host's sysfs, whose class/net lists the
	// host's links, not this namespace's.
	_, err := net.InterfaceByName(capsaBridge)
	link := err == nil
	rules := 0
	if out, err := exec.Command("iptables", "-w", "-S").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "capsa:"+capsaBridge) {
				rules++
			}
		}
	}
	if link || rules > 0 {
		fmt.Printf("note: capsa's bridge %s (link: %t) and %d iptables rules tagged capsa:%s stay by design (capsad keeps its networks, as dockerd keeps docker0): they go with the bench's network namespace\n",
			capsaBridge, link, rules, capsaBridge)
	}
}

func syscallUnmount(path string) error {
	return syscall.Unmount(path, syscall.MNT_DETACH)
}
