package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// tool is one way of pulling and unpacking the image. Each iteration
// starts from an empty store (prepare, not timed), runs the timed steps
// one after the other, and removes everything again (cleanup, not timed).
type tool struct {
	name  string
	steps []string // what each timed step is, in order: "pull", "create"
	// note is what the report says about how the tool is run.
	note string
	// iterate runs one iteration and returns the wall time of each step.
	iterate func(ctx context.Context, iter int) ([]time.Duration, error)

	failed error // set when an iteration failed: the tool leaves the bench
}

// containerName is the name `create` gives the bench's container.
const containerName = "pullbench"

// runTimed runs argv with env, stdout on /dev/null, and returns its wall
// time from the start of the process to its reaping; an error carries the
// end of stderr.
func runTimed(ctx context.Context, env []string, argv ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr // nil: /dev/null
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLines(stderr.String(), 5))
	}
	return d, nil
}

// runQuiet runs argv, not timed, and returns its error with stderr.
func runQuiet(ctx context.Context, env []string, argv ...string) error {
	_, err := runTimed(ctx, env, argv...)
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
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

// removeStore unmounts what is left below dir (reported: a tool that
// leaves a mount after its cleanup is a finding) and removes dir.
func removeStore(dir string) error {
	var errs []error
	if left := unmountUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under %s (unmounted): %s", dir, strings.Join(left, " ")))
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// capsaTool pulls with the bench's own capsad, started afresh on an empty
// data root for every iteration.
func (b *bench) capsaTool() (*tool, error) {
	capsad, capsa := filepath.Join(b.binDir, "capsad"), filepath.Join(b.binDir, "capsa")
	for _, p := range []string{capsad, capsa} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("not built: %s is missing (make build)", p)
		}
	}
	dir := filepath.Join(b.tmp, "capsa")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	dataRoot := filepath.Join(dir, "data") // on disk, as podman's root
	// The exec root and the socket at their default places, on the inner
	// /run tmpfs: a longer exec root would make shim socket paths longer
	// than a unix socket address allows (capsad refuses to start).
	execRoot := "/run/capsa"
	sock := "/run/capsa/capsa.sock"
	// Its own config file: the host's /etc/capsa/capsad.json (capsad's
	// default) names the host's data root.
	config, err := json.Marshal(map[string]any{
		"data-root": dataRoot, "exec-root": execRoot, "hosts": []string{"unix://" + sock},
	})
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "capsad.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return nil, err
	}
	// capsad finds capsa-runtime, capsa-shim and capsa-init next to itself
	// or in PATH: the tree's bin/ first, never an older installed copy.
	env := append(b.env(),
		"PATH="+b.binDir+":"+os.Getenv("PATH"),
		"CAPSA_RUNTIME="+filepath.Join(b.binDir, "capsa-runtime"),
		"CAPSA_SHIM="+filepath.Join(b.binDir, "capsa-shim"),
		"CAPSA_INIT="+filepath.Join(b.binDir, "capsa-init"))
	cli := []string{capsa, "-H", "unix://" + sock}
	ref := b.ref()
	t := &tool{name: "capsa", steps: []string{"pull", "create"},
		note: fmt.Sprintf("%s; a fresh capsad (data root on disk in the temp dir) per iteration", firstLine(capsa, "--version"))}
	t.iterate = func(ctx context.Context, iter int) (ds []time.Duration, retErr error) {
		log := filepath.Join(dir, fmt.Sprintf("capsad-%d.log", iter))
		d, err := startDaemon(ctx, env, log, sock, capsad, "--config-file", configPath)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := d.stop(); err != nil {
				retErr = errors.Join(retErr, err)
			}
			retErr = errors.Join(retErr, removeStore(dataRoot), removeStore(execRoot))
			if retErr == nil {
				_ = os.Remove(log)
			}
		}()
		pull, err := runTimed(ctx, env, append(cli, "pull", ref)...)
		if err != nil {
			return nil, err
		}
		if iter == 0 {
			n := unpackedLayers(dataRoot, b.spec.layerBytes)
			b.capsaUnpackedOnPull = &n
		}
		create, err := runTimed(ctx, env, append(cli, "create", "--name", containerName, ref)...)
		if err != nil {
			return nil, err
		}
		if err := runQuiet(ctx, env, append(cli, "rm", "-f", containerName)...); err != nil {
			return nil, err
		}
		return []time.Duration{pull, create}, nil
	}
	return t, nil
}

// unpackedLayers counts the unpacked layer files below dir (regular files
// layer-N of the layer size, each N once): how many layers `capsa pull`
// had unpacked when it returned.
func unpackedLayers(dir string, size int64) int {
	seen := map[string]bool{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), "layer-") {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() == size {
			seen[d.Name()] = true
		}
		return nil
	})
	return len(seen)
}

// podmanTool pulls with podman on fresh --root, --runroot and --tmpdir
// every iteration, configured by private files (none of the host's).
func (b *bench) podmanTool() (*tool, error) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		return nil, errors.New("not installed (scripts/install-bench-deps.sh)")
	}
	dir := filepath.Join(b.tmp, "podman")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	// cgroupfs and a file events log: no systemd or journald is asked;
	// the networks dir is private (create writes nothing there, but
	// podman reads it at start).
	conf := fmt.Sprintf(`[network]
network_backend = "cni"
network_config_dir = %q

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
image_copy_tmp_dir = %q
`, filepath.Join(dir, "cni"), filepath.Join(dir, "events.log"), b.tmpdir)
	files := map[string]string{
		"containers.conf": conf,
		// Both roots are given per iteration on the command line, but
		// podman wants them here too.
		"storage.conf": fmt.Sprintf("[storage]\ndriver = \"overlay\"\nrunroot = %q\ngraphroot = %q\n",
			filepath.Join(runDir, "podman-run"), filepath.Join(dir, "root")),
		"registries.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "cni"), 0o700); err != nil {
		return nil, err
	}
	env := append(b.env(),
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(dir, "registries.conf"))
	ref := b.ref()
	t := &tool{name: "podman", steps: []string{"pull", "create"},
		note: firstLine(podman, "--version") + ", overlay; fresh --root (on disk), --runroot and --tmpdir per iteration"}
	t.iterate = func(ctx context.Context, iter int) (ds []time.Duration, retErr error) {
		root := filepath.Join(dir, fmt.Sprintf("root-%d", iter))
		// Short paths on /run, as by default: podman 4.3 is slow with a
		// long run root (see bench/engine/README.md).
		runRoot := filepath.Join(runDir, fmt.Sprintf("podman-run-%d", iter))
		tmpDir := filepath.Join(runDir, fmt.Sprintf("podman-tmp-%d", iter))
		cli := []string{podman, "--root", root, "--runroot", runRoot, "--tmpdir", tmpDir, "--storage-driver", "overlay"}
		defer func() {
			// rm -f unmounts the container's layer; storage itself is
			// then unmounted and removed.
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := runQuiet(cctx, env, append(cli, "rm", "-f", "--ignore", containerName)...); err != nil {
				retErr = errors.Join(retErr, err)
			}
			retErr = errors.Join(retErr, removeStore(root), removeStore(runRoot), removeStore(tmpDir))
		}()
		pull, err := runTimed(ctx, env, append(cli, "pull", "--tls-verify=false", ref)...)
		if err != nil {
			return nil, err
		}
		create, err := runTimed(ctx, env, append(cli, "create", "--name", containerName, ref)...)
		if err != nil {
			return nil, err
		}
		return []time.Duration{pull, create}, nil
	}
	return t, nil
}

// skopeoTool copies the image into an empty OCI layout with skopeo and
// unpacks it into an empty bundle with umoci.
func (b *bench) skopeoTool() (*tool, error) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		return nil, errors.New("not installed (scripts/install-bench-deps.sh)")
	}
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		return nil, errors.New("umoci not installed (scripts/install-bench-deps.sh)")
	}
	dir := filepath.Join(b.tmp, "skopeo")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "registries.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	env := append(b.env(), "CONTAINERS_REGISTRIES_CONF="+filepath.Join(dir, "registries.conf"))
	ref := b.ref()
	t := &tool{name: "skopeo", steps: []string{"copy", "umoci unpack"},
		note: firstLine(skopeo, "--version") + " to an oci: layout, then " + firstLine(umoci, "--version") + " unpack"}
	t.iterate = func(ctx context.Context, iter int) (ds []time.Duration, retErr error) {
		layout := filepath.Join(dir, fmt.Sprintf("oci-%d", iter))
		bundle := filepath.Join(dir, fmt.Sprintf("bundle-%d", iter))
		defer func() {
			retErr = errors.Join(retErr, removeStore(layout), removeStore(bundle))
		}()
		cp, err := runTimed(ctx, env, skopeo, "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":"+imageTag)
		if err != nil {
			return nil, err
		}
		unpack, err := runTimed(ctx, env, umoci, "unpack", "--image", layout+":"+imageTag, bundle)
		if err != nil {
			return nil, err
		}
		return []time.Duration{cp, unpack}, nil
	}
	return t, nil
}

// daemon is a capsad the bench started.
type daemon struct {
	cmd  *exec.Cmd
	done chan error
}

// startDaemon starts argv with its output in logPath and waits until the
// Engine API on sock answers /_ping.
func startDaemon(ctx context.Context, env []string, logPath, sock string, argv ...string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://engine/_ping", nil)
		if err != nil {
			_ = d.stop()
			return nil, err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
			err = fmt.Errorf("/_ping: %s", resp.Status)
		}
		select {
		case werr := <-d.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited at start (%v): %s", argv[0], werr, lastLines(string(log), 5))
		case <-ctx.Done():
			_ = d.stop()
			return nil, fmt.Errorf("%s not ready within 60s: %w", argv[0], err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to the daemon's pid and waits; SIGKILL after 30 s
// (reported).
func (d *daemon) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for 30s and was killed", d.cmd.Path, d.cmd.Process.Pid)
}
