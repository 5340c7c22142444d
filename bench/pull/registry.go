package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// registryBinary is Debian's docker-registry (distribution 2.8).
const registryBinary = "/usr/bin/docker-registry"

// registry is the bench's own docker-registry on 127.0.0.1.
type registry struct {
	addr string // 127.0.0.1:PORT
	dir  string // its config, storage and log
	cmd  *exec.Cmd
	done chan error
}

// startRegistry starts docker-registry on a free port of 127.0.0.1 with
// its storage in dir, and waits until it answers /v2/.
func startRegistry(ctx context.Context, dir string) (*registry, error) {
	if _, err := os.Stat(registryBinary); err != nil {
		return nil, fmt.Errorf("registry: %s not installed (scripts/install-bench-deps.sh installs docker-registry)", registryBinary)
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, fmt.Errorf("registry storage: %w", err)
	}
	// Another process may take the port between this probe and the
	// registry's listen: then the registry exits at start, and the next
	// port is tried.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &registry{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
		if lastErr = r.start(ctx, storage); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *registry) start(ctx context.Context, storage string) error {
	// Access log off and log level warn: one line per request would only
	// add noise (and work) to what is measured.
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: false
  redirect:
    disable: true
http:
  addr: %s
`, storage, r.addr)
	configPath := filepath.Join(r.dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return fmt.Errorf("registry config: %w", err)
	}
	logPath := filepath.Join(r.dir, "registry.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("registry log: %w", err)
	}
	defer logf.Close()
	r.cmd = exec.Command(registryBinary, "serve", configPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	// Pdeathsig: should the bench die without its cleanup, the registry
	// goes with it rather than serving on.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", registryBinary, err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case werr := <-r.done:
			r.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("docker-registry on %s exited at start (%v): %s", r.addr, werr, lastLines(string(log), 3))
		case <-ctx.Done():
			_ = r.stop()
			return fmt.Errorf("docker-registry on %s not ready within 30s: %w", r.addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the registry by its pid: SIGTERM, SIGKILL after 10 s.
func (r *registry) stop() error {
	if r == nil || r.cmd == nil {
		return nil
	}
	defer func() { r.cmd = nil }()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	return fmt.Errorf("docker-registry (pid %d) ignored SIGTERM for 10s and was killed", r.cmd.Process.Pid)
}

// push copies the layout's image into the registry as repo:latest.
func (r *registry) push(ctx context.Context, img *layoutImage, repo string, env []string) error {
	cmd := exec.CommandContext(ctx, "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
		"oci:"+img.dir+":"+imageTag, "docker://"+r.addr+"/"+repo+":latest")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("push the image to %s with skopeo: %w: %s", r.addr, err, lastLines(out.String(), 5))
		}
		return fmt.Errorf("push the image to %s: %w", r.addr, err)
	}
	return nil
}
