// Package daemon is capsad: it opens the engine on the configured roots,
// serves the Docker Engine API on unix sockets, and leaves the containers
// running when it stops (they live under their shims; the next start
// finds them again).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/api/docker"
	"github.com/capsa-dev/capsa/internal/engine"
)

// Run runs capsad with cfg until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (retErr error) {
	if err := cfg.Complete(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.ExecRoot, 0o711); err != nil {
		return err
	}
	// One daemon per exec root: a second one (two CLIs starting capsad at
	// once) stops here.
	lock, err := os.OpenFile(filepath.Join(cfg.ExecRoot, "capsad.pid"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("another capsad runs on %s (pid file %s is locked)", cfg.ExecRoot, lock.Name())
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)

	lc, _ := cfg.logConfig()
	rts := map[string]string{}
	for name, rt := range cfg.Runtimes {
		rts[name] = rt.Path
	}
	shimPath, err := findBinary("capsa-shim")
	if err != nil {
		return fmt.Errorf("capsa-shim not found beside capsad or in PATH: %w", err)
	}
	initPath, _ := findBinary("capsa-init")
	var bip netip.Prefix
	if cfg.BIP != "" {
		p, err := netip.ParsePrefix(cfg.BIP)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("config: bip %q: an IPv4 address and prefix such as 10.77.0.1/16", cfg.BIP)
		}
		bip = p.Masked()
	}
	e, err := engine.Open(ctx, engine.Config{
		DataRoot: cfg.DataRoot, RunRoot: cfg.ExecRoot, Runtimes: rts, DefaultRuntime: cfg.DefaultRuntime,
		ShimPath: shimPath, Log: lc, Logger: log, InsecureRegistries: cfg.InsecureRegistries,
		DefaultBridge: cfg.Bridge, DefaultSubnet: bip, AddressPools: cfg.DefaultAddressPools,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	api := docker.New(e, docker.Config{
		InitPath: initPath, DataRoot: cfg.DataRoot, Runtimes: rts, DefaultRuntime: cfg.DefaultRuntime, Logger: log,
	})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, h := range cfg.Hosts {
		ln, err := listenUnix(strings.TrimPrefix(h, "unix://"), cfg.Group)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	log.Info("capsad serving", "hosts", cfg.Hosts, "data-root", cfg.DataRoot, "exec-root", cfg.ExecRoot, "pid", os.Getpid())
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("capsad stopping; containers keep running")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	for _, h := range cfg.Hosts {
		os.Remove(strings.TrimPrefix(h, "unix://"))
	}
	return nil
}

// listenUnix listens on path (mode 0660, owned by root and group).
func listenUnix(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// A socket left by a daemon that died is replaced; one that answers
	// belongs to a live daemon (the pid file lock says which).
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on %s: it exists and is not a socket", path)
		}
		os.Remove(path)
	}
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	gid := 0
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket group %q: %w", group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(path, 0, gid); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
