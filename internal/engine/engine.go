package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/capsa-dev/capsa/internal/content"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/image"
	"github.com/capsa-dev/capsa/internal/network"
	"github.com/capsa-dev/capsa/internal/shim"
	"github.com/capsa-dev/capsa/internal/snapshot/overlay"
	"github.com/capsa-dev/capsa/internal/volume"
)

// Config says where an Engine keeps its state and which binaries it runs.
type Config struct {
	// DataRoot holds what survives a reboot (/var/lib/capsa).
	DataRoot string
	// RunRoot holds runtime state: mounts, shim sockets, exit records
	// (/run/capsa). Short: a shim's socket path must fit in sun_path.
	RunRoot string
	// Runtimes maps runtime names to OCI runtime binaries (with runc's
	// command line); DefaultRuntime is the name used when a container
	// names none. ShimPath is capsa-shim.
	Runtimes       map[string]string
	DefaultRuntime string
	ShimPath       string
	// Log bounds containers' json-file logs unless they say otherwise.
	Log LogConfig
	// Logger for the engine's own messages; nil: discarded.
	Logger *slog.Logger
	// InsecureRegistries are pulled from over plain HTTP (loopback
	// registries always may be).
	InsecureRegistries []string
	// DefaultBridge and DefaultSubnet are the default network's bridge
	// and subnet, AddressPools where user networks get theirs (zero:
	// network's defaults).
	DefaultBridge string
	DefaultSubnet netip.Prefix
	AddressPools  []network.AddressPool
}

// Engine runs containers from images. Its methods are safe for
// concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	content *content.Store
	snap    *overlay.Snapshotter
	images  *image.Store
	db      *bolt.DB
	vols    *volume.Store
	net     *network.Manager

	events eventBus

	// execMu guards execs.
	execMu sync.Mutex
	execs  map[string]*execRecord

	// unpackMu serializes unpacking images into snapshots.
	unpackMu sync.Mutex

	// monitors run while the engine is open; Close cancels them and waits.
	monCtx    context.Context
	monCancel context.CancelFunc
	monWG     sync.WaitGroup

	// mu guards the index below and is held across the database
	// transactions that change it.
	mu         sync.Mutex
	containers map[string]*Container // by ID
	names      map[string]string     // name → ID
}

var (
	bucketContainers = []byte("containers")
	bucketNames      = []byte("names")
)

// sunPathMax is the longest unix socket path (sun_path less its NUL).
const sunPathMax = 107

// Open opens (creating if needed) the engine's state under cfg's roots and
// reconciles it with what the machine has.
func Open(ctx context.Context, cfg Config) (_ *Engine, retErr error) {
	if cfg.DataRoot == "" || cfg.RunRoot == "" {
		return nil, errdefs.Invalid("engine: DataRoot and RunRoot are required")
	}
	if _, ok := cfg.Runtimes[cfg.DefaultRuntime]; !ok {
		return nil, errdefs.Invalid(fmt.Sprintf("engine: default runtime %q is not among the runtimes", cfg.DefaultRuntime))
	}
	for _, p := range []*string{&cfg.DataRoot, &cfg.RunRoot, &cfg.ShimPath} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if n := len(cfg.RunRoot) + len("/containers/") + 64 + len("/") + shim.MaxSocketName; n > sunPathMax {
		return nil, errdefs.Invalid(fmt.Sprintf("engine: run root %q too long: shim sockets would be %d bytes, the limit is %d", cfg.RunRoot, n, sunPathMax))
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, containers: map[string]*Container{}, names: map[string]string{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{cfg.DataRoot, filepath.Join(cfg.DataRoot, "containers"), filepath.Join(cfg.RunRoot, "containers")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	var err error
	defer func() {
		if retErr != nil {
			e.closeStores()
		}
	}()
	if e.content, err = content.Open(filepath.Join(cfg.DataRoot, "content")); err != nil {
		return nil, fmt.Errorf("engine: content store: %w", err)
	}
	if e.snap, err = overlay.New(ctx, filepath.Join(cfg.DataRoot, "snapshots", "overlay")); err != nil {
		return nil, fmt.Errorf("engine: snapshotter: %w", err)
	}
	if e.images, err = image.OpenStore(filepath.Join(cfg.DataRoot, "images.db")); err != nil {
		return nil, fmt.Errorf("engine: image store: %w", err)
	}
	// No pull or unpack runs yet: the layers one that was killed was
	// extracting are leftovers (its downloads stay, to be resumed).
	if removed, err := image.RemoveExtractions(ctx, e.snap); err != nil {
		e.log.Warn("remove leftover layer extractions", "err", err)
	} else if len(removed) > 0 {
		e.log.Info("removed leftover layer extractions", "count", len(removed))
	}
	if e.db, err = bolt.Open(filepath.Join(cfg.DataRoot, "containers.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second}); err != nil {
		return nil, fmt.Errorf("engine: container database: %w", err)
	}
	if err := e.load(); err != nil {
		return nil, err
	}
	if err := e.openVolumes(); err != nil {
		return nil, err
	}
	if e.net, err = network.Open(ctx, network.Config{
		DataDir: filepath.Join(cfg.DataRoot, "networks"), RunDir: filepath.Join(cfg.RunRoot, "net"),
		DefaultBridge: cfg.DefaultBridge, DefaultSubnet: cfg.DefaultSubnet, Pools: cfg.AddressPools, Log: e.log,
	}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.monCtx, e.monCancel = context.WithCancel(context.Background())
	// One broken container must not keep the engine from opening: what
	// Reconcile could not mend is logged (and such a container is dead).
	if err := e.Reconcile(ctx); err != nil {
		e.log.Warn("reconcile", "err", err)
	}
	e.autoRemoveOnOpen(ctx)
	e.restartOnOpen(ctx)
	return e, nil
}

// Close releases the engine's stores, after every other call on the
// engine has returned. Containers keep running under their shims; a later
// Open finds them again.
func (e *Engine) Close() error {
	if e.monCancel != nil {
		e.monCancel()
	}
	e.monWG.Wait()
	return e.closeStores()
}

func (e *Engine) closeStores() error {
	var errs []error
	if e.net != nil {
		e.net.Close()
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	if e.images != nil {
		errs = append(errs, e.images.Close())
	}
	if e.snap != nil {
		errs = append(errs, e.snap.Close())
	}
	return errors.Join(errs...)
}

// load reads every container record into the index.
func (e *Engine) load() error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketContainers)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketNames); err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("engine: container record %q: %w", k, err)
			}
			e.containers[rec.ID] = newContainer(rec)
			e.names[rec.Name] = rec.ID
			return nil
		})
	})
}

// save writes rec to the database. Preconditions: the container's mu held.
func (e *Engine) save(rec record) error {
	data, err := marshalRecord(rec)
	if err != nil {
		return err
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).Put([]byte(rec.ID), data)
	})
}

// setState applies fn to c's record under c.mu, moves it to status to
// (unless to is ""), and persists it; nothing changes on error.
func (e *Engine) setState(c *Container, to Status, fn func(*State)) error {
	return e.setStateAnd(c, to, fn, nil)
}

// setStateAnd is setState that also runs and once the state is saved,
// still holding c.mu: what must happen before anyone waiting for the
// change sees it, such as publishing the event that reports it (a stop
// that saw the exit must not report "stop" before the "die").
func (e *Engine) setStateAnd(c *Container, to Status, fn func(*State), and func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return errdefs.NotFound(fmt.Sprintf("no such container: %s", c.rec.ID))
	}
	old := c.rec
	if to != "" {
		if err := c.transition(to); err != nil {
			return err
		}
	}
	if fn != nil {
		fn(&c.rec.State)
	}
	if err := e.save(c.rec); err != nil {
		// The change is undone; waiters woken by transition look again.
		c.rec = old
		return fmt.Errorf("container %s: save state: %w", shortID(c.rec.ID), err)
	}
	if and != nil {
		and()
	}
	return nil
}

// Paths of one container.
func (e *Engine) bundleDir(id string) string {
	return filepath.Join(e.cfg.DataRoot, "containers", id)
}
func (e *Engine) stateDir(id string) string { return filepath.Join(e.cfg.RunRoot, "containers", id) }
func (e *Engine) rootfsDir(id string) string {
	return filepath.Join(e.stateDir(id), "rootfs")
}
func (e *Engine) logPath(id string) string {
	return filepath.Join(e.bundleDir(id), id+"-json.log")
}

// runtimeRoot is the --root of the runtime named name: each runtime keeps
// its state in its own format, so each has its own root.
func (e *Engine) runtimeRoot(name string) string {
	return filepath.Join(e.cfg.RunRoot, "runtime", name)
}

// runtimePath is the binary of the runtime named name.
func (e *Engine) runtimePath(name string) string {
	if p, ok := e.cfg.Runtimes[name]; ok {
		return p
	}
	return e.cfg.Runtimes[e.cfg.DefaultRuntime]
}

func (e *Engine) client(id string) *shim.Client {
	return shim.NewClient(filepath.Join(e.stateDir(id), shim.SocketName))
}

// newID returns a random 64-hex-digit container ID.
func newID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// lookup resolves ref as Docker does: a full ID, a name (with or without
// a leading "/"), or a unique prefix of an ID.
func (e *Engine) lookup(ref string) (*Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ref == "" {
		return nil, errdefs.Invalid("empty container reference")
	}
	if c, ok := e.containers[ref]; ok {
		return c, nil
	}
	if id, ok := e.names[strings.TrimPrefix(ref, "/")]; ok {
		return e.containers[id], nil
	}
	var found *Container
	for id, c := range e.containers {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.Invalid(fmt.Sprintf("multiple containers found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound(fmt.Sprintf("no such container: %s", ref))
	}
	return found, nil
}

func (c *Container) info(e *Engine) Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	st := r.State
	if st.Health != nil {
		h := *st.Health
		h.Log = append([]HealthResult(nil), h.Log...)
		st.Health = &h
	}
	return Info{
		ID: r.ID, Name: r.Name, Image: r.Image, ImageID: r.ImageID, Created: r.Created,
		Cmd: append([]string(nil), r.Cmd...), Env: append([]string(nil), r.Env...), Tty: r.Tty,
		StopSignal: r.StopSignal, State: st,
		Labels: maps.Clone(r.Labels), OpenStdin: r.OpenStdin, StdinOnce: r.StdinOnce,
		Restart: r.Restart, AutoRemove: r.AutoRemove, Healthcheck: r.Healthcheck,
		StopTimeout: r.StopTimeout, Runtime: r.Runtime, Log: r.Log,
		Extensions: maps.Clone(r.Extensions), RestartCount: r.RestartCount,
		ManuallyStopped: r.ManuallyStopped,
		Network:         e.networkInfo(&r),
		ExposedPorts:    slices.Clone(r.ExposedPorts),
		Bundle:          e.bundleDir(r.ID), Rootfs: e.rootfsDir(r.ID), LogPath: e.logPath(r.ID),
	}
}

// marshalRecord is the database form of rec.
func marshalRecord(rec record) ([]byte, error) { return json.Marshal(rec) }
