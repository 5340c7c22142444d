package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Every engine keeps its runtime state (sockets, exec roots, run roots:
// tmpfs by default everywhere) at its default place in /run, which is the
// bench's own tmpfs, and its persistent state (images, containers'
// layers, databases) in the bench's temp dir, on the same file system as
// /var/lib where it would be by default. The same kind of storage for all,
// and podman 4.3 needs it: with its run root under a long temp dir path,
// every `run --rm` waited 20 s more for its container's cleanup.

// engine is one engine under test: how to call its CLI, its daemon (none
// for podman), and how to recognise its per-container shim.
type engine struct {
	name    string // capsa, podman, docker, containerd
	cli     string // absolute path of the CLI
	global  []string
	env     []string // the CLI's environment
	runtime string   // the OCI runtime it runs containers with
	version string
	dir     string // its private state, under the bench's temp dir

	// hasNetwork is false for an engine whose default is no network
	// (ctr): it gets one row, among the no-network ones.
	hasNetwork bool
	netNote    string

	daemon     *exec.Cmd // nil for podman
	daemonDone chan error
	daemonLog  string

	// runArgs gives the CLI arguments (after global) of a foreground run of
	// argv, removed at exit; network is "" for the engine's default.
	runArgs func(id, network string, argv ...string) []string
	// detachArgs gives those of a detached run.
	detachArgs func(id string, argv ...string) []string
	// removeAll force-removes the containers ids.
	removeAll func(ctx context.Context, ids []string) error
	// cleanup removes the image and checks that the engine lists nothing.
	cleanup func(ctx context.Context) error

	shimExe   string // basename of the shim's executable
	shimMatch string // and a word its command line must hold ("" for any)
	daemonExe []string

	failed error // set when a run failed: the engine leaves the bench
}

// command returns the CLI command for args.
func (e *engine) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.cli, append(append([]string(nil), e.global...), args...)...)
	cmd.Env = e.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// output runs the CLI and returns its stdout; an error carries stderr.
func (e *engine) output(ctx context.Context, args ...string) (string, error) {
	cmd := e.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", e.name, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// timed runs the CLI with stdout on /dev/null and returns its wall time,
// from the start of the process to the reaping of it.
func (e *engine) timed(ctx context.Context, devnull *os.File, args ...string) (time.Duration, error) {
	cmd := e.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w: %s", e.name, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return d, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// startDaemon starts argv with its output in dir/daemon.log and waits until
// ready answers nil.
func (e *engine) startDaemon(ctx context.Context, env []string, ready func(context.Context) error, argv ...string) error {
	e.daemonLog = filepath.Join(e.dir, "daemon.log")
	logf, err := os.OpenFile(e.daemonLog, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	e.daemon = cmd
	e.daemonDone = make(chan error, 1)
	go func() { e.daemonDone <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case werr := <-e.daemonDone:
			e.daemon = nil
			log, _ := os.ReadFile(e.daemonLog)
			return fmt.Errorf("%s exited at start (%v): %s", argv[0], werr, lastLines(string(log), 5))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within 60s: %w", argv[0], err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopDaemon sends SIGTERM to the daemon's pid and waits for it; after 30
// seconds, SIGKILL (reported).
func (e *engine) stopDaemon() error {
	if e.daemon == nil {
		return nil
	}
	defer func() { e.daemon = nil }()
	_ = e.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.daemonDone:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = e.daemon.Process.Kill()
	<-e.daemonDone
	return fmt.Errorf("%s daemon (pid %d) ignored SIGTERM for 30s and was killed", e.name, e.daemon.Process.Pid)
}

// pingDocker asks an Engine API server on the unix socket sock for /_ping.
func pingDocker(sock string) func(context.Context) error {
	return func(ctx context.Context) error {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://engine/_ping", nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/_ping: %s", resp.Status)
		}
		return nil
	}
}

// firstLine runs argv and returns the first line of its output.
func firstLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "?"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// dockerLike fills in the verbs that capsa, docker and podman share.
// rmExtra goes after `rm -f` (podman's rm -f stops with the 10 s timeout
// first, docker's kills at once: -t 0 makes it do the same).
func dockerLike(e *engine, rmExtra []string, extraRun ...string) {
	e.runArgs = func(id, network string, argv ...string) []string {
		a := []string{"run", "--rm", "--name", id}
		a = append(a, extraRun...)
		if network != "" {
			a = append(a, "--network", network)
		}
		return append(append(a, imageRef), argv...)
	}
	e.detachArgs = func(id string, argv ...string) []string {
		a := append([]string{"run", "-d", "--name", id}, extraRun...)
		return append(append(a, imageRef), argv...)
	}
	e.removeAll = func(ctx context.Context, ids []string) error {
		for len(ids) > 0 {
			n := min(len(ids), 25)
			if _, err := e.output(ctx, append(append([]string{"rm", "-f"}, rmExtra...), ids[:n]...)...); err != nil {
				return err
			}
			ids = ids[n:]
		}
		return nil
	}
	e.cleanup = func(ctx context.Context) error {
		var errs []error
		if ids, err := e.output(ctx, "ps", "-aq"); err != nil {
			errs = append(errs, err)
		} else if ids != "" {
			errs = append(errs, fmt.Errorf("%s: containers left: %s", e.name, strings.Join(strings.Fields(ids), " ")))
			_ = e.removeAll(ctx, strings.Fields(ids))
		}
		if _, err := e.output(ctx, "rmi", imageRef); err != nil {
			errs = append(errs, err)
		}
		if ids, err := e.output(ctx, "images", "-q"); err != nil {
			errs = append(errs, err)
		} else if ids != "" {
			errs = append(errs, fmt.Errorf("%s: images left: %s", e.name, strings.Join(strings.Fields(ids), " ")))
		}
		return errors.Join(errs...)
	}
}

// capsa's default network in the bench: a bridge of its own (capsad's
// default, capsa0, may be in use by a capsad on the host, and a name of
// its own makes its rules, tagged capsa:<bridge>, easy to tell) and a
// subnet that no other engine here takes (docker0 172.17.0.0/16, podman's
// cni-podman0 10.88.0.0/16). They are made in the bench's network
// namespace and die with it; capsad keeps them when it stops, as dockerd
// keeps docker0.
const (
	capsaBridge = "capsabench0"
	capsaBIP    = "10.203.0.1/24"
)

// capsadConfig is the JSON configuration file the bench gives capsad
// (--config-file): its default network. The rest is on the command line,
// and the host's /etc/capsa/capsad.json is never read.
func capsadConfig() ([]byte, error) {
	return json.MarshalIndent(map[string]string{"bridge": capsaBridge, "bip": capsaBIP}, "", "\t")
}

// subnetFree fails if an address of this network namespace lies in
// prefix, or prefix in one of its networks.
func subnetFree(prefix string) error {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return err
	}
	p = p.Masked()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		if q := netip.PrefixFrom(ip.Unmap(), ones).Masked(); q.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps %s, already in this network namespace", p, ipn)
		}
	}
	return nil
}

// setupCapsa starts the bench's own capsad and imports the image.
func setupCapsa(ctx context.Context, b *bench) (*engine, error) {
	capsad, capsa := filepath.Join(b.binDir, "capsad"), filepath.Join(b.binDir, "capsa")
	for _, p := range []string{capsad, capsa} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("not built: %s is missing (make build)", p)
		}
	}
	e := &engine{name: "capsa", cli: capsa, dir: filepath.Join(b.tmp, "capsa"), hasNetwork: true,
		runtime: "capsa-runtime (" + filepath.Join(b.binDir, "capsa-runtime") + ")",
		netNote: "default: bridge " + capsaBridge + " (" + capsaBIP + ", CNI bridge + host-local) with iptables rules, in the bench's network namespace",
		shimExe: "capsa-shim", daemonExe: []string{"capsad"}}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		return nil, err
	}
	if err := subnetFree(capsaBIP); err != nil {
		return e, fmt.Errorf("capsa's bench network: %w", err)
	}
	conf, err := capsadConfig()
	if err != nil {
		return e, err
	}
	confPath := filepath.Join(e.dir, "capsad.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return e, err
	}
	sock := "/run/capsa/capsa.sock"
	// capsad finds capsa-runtime, capsa-shim and capsa-init next to itself
	// or in PATH: the tree's bin/ first, never an older installed copy.
	env := append(os.Environ(),
		"PATH="+b.binDir+":"+os.Getenv("PATH"),
		"CAPSA_RUNTIME="+filepath.Join(b.binDir, "capsa-runtime"),
		"CAPSA_SHIM="+filepath.Join(b.binDir, "capsa-shim"),
		"CAPSA_INIT="+filepath.Join(b.binDir, "capsa-init"))
	e.env = env
	e.global = []string{"-H", "unix://" + sock}
	dockerLike(e, nil)
	e.version = firstLine(capsa, "--version")
	// Runtime state and the socket at their default places, in the bench's
	// own /run (see runState); the exec root under the temp dir would also
	// make shim socket paths longer than a unix socket address allows.
	if err := e.startDaemon(ctx, env, pingDocker(sock), capsad,
		"--config-file", confPath,
		"--data-root", filepath.Join(e.dir, "data"), "--exec-root", "/run/capsa",
		"--host", "unix://"+sock); err != nil {
		return e, err
	}
	if _, err := e.output(ctx, "import", b.rootfsTar, imageRef); err != nil {
		return e, err
	}
	return e, nil
}

// setupPodman writes podman's private configuration and loads the image.
func setupPodman(ctx context.Context, b *bench) (*engine, error) {
	p, err := exec.LookPath("podman")
	if err != nil {
		return nil, errors.New("not installed (scripts/install-bench-deps.sh)")
	}
	e := &engine{name: "podman", cli: p, dir: filepath.Join(b.tmp, "podman"), hasNetwork: true,
		netNote: "default: CNI bridge (podman 4.3's default network)",
		shimExe: "conmon"}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		return nil, err
	}
	rt, err := exec.LookPath(b.podmanRuntime)
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %s: %w", b.podmanRuntime, err)
	}
	e.runtime = b.podmanRuntime + " (" + firstLine(rt, "--version") + ")"
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
runroot = %q
graphroot = %q
`, "/run/containers/storage", filepath.Join(e.dir, "root"))
	// default_ulimits: podman's own default asks for more than this host's
	// hard limits (nofile 20000) and every run fails; the values are
	// docker's here (--default-ulimit nofile=1024:1024).
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
network_config_dir = %q
cni_plugin_dirs = ["/usr/lib/cni"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
volume_path = %q
image_copy_tmp_dir = %q
runtime = %q
`, filepath.Join(e.dir, "cni"), filepath.Join(e.dir, "events.log"), "/run/libpod",
		filepath.Join(e.dir, "volumes"), os.Getenv("TMPDIR"), b.podmanRuntime)
	for name, body := range map[string]string{"storage.conf": storage, "containers.conf": conf} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(e.dir, "cni"), 0o700); err != nil {
		return nil, err
	}
	e.env = append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(e.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(e.dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(e.dir, "registries.conf"))
	if err := os.WriteFile(filepath.Join(e.dir, "registries.conf"), []byte("unqualified-search-registries = [\"docker.io\"]\n"), 0o600); err != nil {
		return nil, err
	}
	dockerLike(e, []string{"-t", "0"}, "--cgroup-parent", "/"+cgroupTop+"/"+b.tag+"-podman")
	e.version = firstLine(p, "--version")
	if _, err := e.output(ctx, "load", "-q", "-i", b.archiveTar); err != nil {
		return e, err
	}
	return e, nil
}

// setupDocker starts the bench's own dockerd (with its own containerd) and
// loads the image.
func setupDocker(ctx context.Context, b *bench) (*engine, error) {
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, errors.New("not installed (scripts/install-bench-deps.sh)")
	}
	// Debian's CLI, the one that matches its dockerd (another may be first
	// in PATH).
	cli := "/usr/bin/docker"
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath("docker"); err != nil {
			return nil, errors.New("docker CLI not installed")
		}
	}
	e := &engine{name: "docker", cli: cli, dir: filepath.Join(b.tmp, "docker"), hasNetwork: true,
		netNote: "default: bridge docker0 with iptables NAT, in the bench's network namespace",
		runtime: "runc (" + firstLine("runc", "--version") + ")",
		shimExe: "containerd-shim-runc-v2", shimMatch: "moby", daemonExe: []string{"dockerd", "containerd"}}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		return nil, err
	}
	sock := "/run/docker.sock"
	e.env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(e.dir, "config"))
	e.global = []string{"-H", "unix://" + sock}
	dockerLike(e, nil)
	if err := e.startDaemon(ctx, os.Environ(), pingDocker(sock), dockerd,
		"--data-root", filepath.Join(e.dir, "root"),
		"--exec-root", "/run/docker",
		"--pidfile", "/run/docker.pid",
		"-H", "unix://"+sock,
		"--default-ulimit", "nofile=1024:1024",
		"--cgroup-parent", "/"+cgroupTop+"/"+b.tag+"-docker",
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--log-level", "warn"); err != nil {
		return e, err
	}
	if v, err := e.output(ctx, "version", "--format", "{{.Server.Version}}"); err == nil {
		e.version = "dockerd " + v + ", CLI " + firstLine(cli, "--version")
	}
	if _, err := e.output(ctx, "load", "-q", "-i", b.archiveTar); err != nil {
		return e, err
	}
	return e, nil
}

// containerdNS is the containerd namespace of the bench's containers.
const containerdNS = "capsa-bench"

// setupContainerd starts the bench's own containerd and imports the image.
func setupContainerd(ctx context.Context, b *bench) (*engine, error) {
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		return nil, errors.New("not installed (scripts/install-bench-deps.sh)")
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return nil, errors.New("ctr not installed")
	}
	e := &engine{name: "containerd", cli: ctr, dir: filepath.Join(b.tmp, "containerd"),
		netNote: "ctr gives a container no network (an empty network namespace)",
		runtime: "runc (" + firstLine("runc", "--version") + ")",
		shimExe: "containerd-shim-runc-v2", shimMatch: containerdNS, daemonExe: []string{"containerd"}}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		return nil, err
	}
	sock := "/run/containerd/containerd.sock"
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(e.dir, "root"), "/run/containerd", sock, sock+".ttrpc", filepath.Join(e.dir, "opt"))
	confPath := filepath.Join(e.dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	e.env = os.Environ()
	e.global = []string{"-a", sock, "-n", containerdNS}
	cgroup := "/" + cgroupTop + "/" + b.tag + "-containerd/"
	e.runArgs = func(id, _ string, argv ...string) []string {
		return append([]string{"run", "--rm", "--cgroup", cgroup + id, "docker.io/library/" + imageRef, id}, argv...)
	}
	e.detachArgs = func(id string, argv ...string) []string {
		return append([]string{"run", "-d", "--null-io", "--cgroup", cgroup + id, "docker.io/library/" + imageRef, id}, argv...)
	}
	e.removeAll = func(ctx context.Context, ids []string) error {
		if _, err := e.output(ctx, append([]string{"task", "rm", "-f"}, ids...)...); err != nil {
			return err
		}
		_, err := e.output(ctx, append([]string{"container", "rm"}, ids...)...)
		return err
	}
	e.cleanup = func(ctx context.Context) error {
		var errs []error
		if ids, err := e.output(ctx, "container", "ls", "-q"); err != nil {
			errs = append(errs, err)
		} else if ids != "" {
			errs = append(errs, fmt.Errorf("containerd: containers left: %s", strings.Join(strings.Fields(ids), " ")))
			_ = e.removeAll(ctx, strings.Fields(ids))
		}
		if _, err := e.output(ctx, "image", "rm", "--sync", "docker.io/library/"+imageRef); err != nil {
			errs = append(errs, err)
		}
		// A namespace goes only when it holds nothing: images, containers,
		// snapshots and content all gone.
		if _, err := e.output(ctx, "namespace", "rm", containerdNS); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	e.version = firstLine(containerd, "--version")
	ready := func(ctx context.Context) error {
		_, err := e.output(ctx, "version")
		return err
	}
	if err := e.startDaemon(ctx, os.Environ(), ready, containerd, "--config", confPath, "--log-level", "warn"); err != nil {
		return e, err
	}
	if _, err := e.output(ctx, "image", "import", b.archiveTar); err != nil {
		return e, err
	}
	return e, nil
}
