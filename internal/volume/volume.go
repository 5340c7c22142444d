// Package volume is the local volume driver's store: one directory per
// volume under the store's root, holding the volume's data in _data (what
// containers mount) and its metadata in volume.json, as dockerd's local
// driver lays them out under <data-root>/volumes.
//
// Metadata is written atomically (temp file, fsync, rename): a volume
// whose directory has no volume.json was being created or removed when
// the process died, and Open removes it. Which containers use a volume is
// not stored here: the engine derives it from its container records and
// tells the store with Ref and Unref.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// DriverLocal is the only driver.
const DriverLocal = "local"

// LabelAnonymous marks a volume made for a container's anonymous mount
// (-v /path, an image's VOLUME), as dockerd ≥ 23 marks them; volume prune
// removes only those unless told all.
const LabelAnonymous = "com.docker.volume.anonymous"

const (
	dataDir  = "_data"
	metaFile = "volume.json"
)

// validName is docker's rule for local volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks name by docker's rule, in docker's words.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.Invalid(fmt.Sprintf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name))
	}
	return nil
}

// Volume is one volume's metadata.
type Volume struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Mountpoint string            `json:"-"`
	CreatedAt  time.Time         `json:"created_at"`
	Labels     map[string]string `json:"labels,omitempty"`
	Options    map[string]string `json:"options,omitempty"`
	// UsedBy lists the IDs of the containers that use it, sorted.
	UsedBy []string `json:"-"`
}

// Anonymous tells whether v was made for an anonymous mount.
func (v Volume) Anonymous() bool {
	_, ok := v.Labels[LabelAnonymous]
	return ok
}

// Store holds the volumes under one root. Its methods are safe for
// concurrent use.
type Store struct {
	root string

	// mu guards vols and refs, and is held across the file system
	// changes that make or remove a volume.
	mu   sync.Mutex
	vols map[string]*Volume
	refs map[string]map[string]struct{} // volume → container IDs
}

// Open opens (creating) the store at root and removes half-made volumes.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	s := &Store{root: root, vols: map[string]*Volume{}, refs: map[string]map[string]struct{}{}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	for _, ent := range ents {
		name := ent.Name()
		dir := filepath.Join(root, name)
		if !ent.IsDir() || !validName.MatchString(name) {
			// Not ours to judge (docker's metadata.db, a stray file),
			// except our own leftovers from an interrupted removal.
			if strings.HasPrefix(name, ".removing-") {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, metaFile))
		if errors.Is(err, fs.ErrNotExist) {
			// Created or removed when the process died.
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("volume store: remove half-made volume %q: %w", name, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("volume store: volume %q: %w", name, err)
		}
		var v Volume
		if err := json.Unmarshal(data, &v); err != nil || v.Name != name {
			return nil, fmt.Errorf("volume store: volume %q: bad metadata", name)
		}
		v.Mountpoint = filepath.Join(dir, dataDir)
		s.vols[name] = &v
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// NewAnonymousName returns a random 64-hex name, as docker's.
func NewAnonymousName() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CreateOptions describe a volume to create.
type CreateOptions struct {
	Name    string // "": an anonymous name
	Driver  string // "" or "local"
	Labels  map[string]string
	Options map[string]string
}

// Create makes a volume, or returns the existing one of that name as
// docker does (created false).
func (s *Store) Create(o CreateOptions) (Volume, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(o)
}

// Preconditions: s.mu held.
func (s *Store) create(o CreateOptions) (_ Volume, created bool, retErr error) {
	if o.Driver != "" && o.Driver != DriverLocal {
		return Volume{}, false, errdefs.NotFound(fmt.Sprintf("create %s: error looking up volume plugin %s: plugin %q not found", o.Name, o.Driver, o.Driver))
	}
	for k := range o.Options {
		// The local driver's type/device/o mount a file system; capsa
		// does not yet.
		switch k {
		case "type", "device", "o":
			return Volume{}, false, errdefs.NotImplemented(fmt.Sprintf("create %s: local volume option %q is not supported", o.Name, k))
		default:
			return Volume{}, false, errdefs.Invalid(fmt.Sprintf("create %s: invalid option: %q", o.Name, k))
		}
	}
	if o.Name == "" {
		n, err := NewAnonymousName()
		if err != nil {
			return Volume{}, false, err
		}
		o.Name = n
	}
	if err := ValidateName(o.Name); err != nil {
		return Volume{}, false, err
	}
	if v, ok := s.vols[o.Name]; ok {
		return s.view(v), false, nil
	}
	dir := filepath.Join(s.root, o.Name)
	if err := os.Mkdir(dir, 0o701); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", o.Name, err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, dataDir), 0o755); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", o.Name, err)
	}
	v := &Volume{Name: o.Name, Driver: DriverLocal, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Labels: maps.Clone(o.Labels), Options: maps.Clone(o.Options), Mountpoint: filepath.Join(dir, dataDir)}
	data, err := json.Marshal(v)
	if err != nil {
		return Volume{}, false, err
	}
	if err := atomicfile.Write(filepath.Join(dir, metaFile), data, 0o600); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", o.Name, err)
	}
	s.vols[o.Name] = v
	return s.view(v), true, nil
}

// view copies v with its users. Preconditions: s.mu held.
func (s *Store) view(v *Volume) Volume {
	out := *v
	out.Labels = maps.Clone(v.Labels)
	out.Options = maps.Clone(v.Options)
	out.UsedBy = slices.Sorted(maps.Keys(s.refs[v.Name]))
	return out
}

func notFound(name string) error {
	return errdefs.NotFound(fmt.Sprintf("get %s: no such volume", name))
}

// Get returns the volume name.
func (s *Store) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return Volume{}, notFound(name)
	}
	return s.view(v), nil
}

// List returns every volume, sorted by name.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, s.view(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Acquire records that container id uses volume name, creating the
// volume from o if it does not exist (created true).
func (s *Store) Acquire(id string, o CreateOptions) (Volume, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, created, err := s.create(o)
	if err != nil {
		return Volume{}, false, err
	}
	s.ref(v.Name, id)
	v.UsedBy = slices.Sorted(maps.Keys(s.refs[v.Name]))
	return v, created, nil
}

// Ref records that container id uses volume name (the engine calls it
// for each container record when it opens). An unknown volume is an
// error, and nothing is recorded.
func (s *Store) Ref(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return notFound(name)
	}
	s.ref(name, id)
	return nil
}

// Preconditions: s.mu held.
func (s *Store) ref(name, id string) {
	if s.refs[name] == nil {
		s.refs[name] = map[string]struct{}{}
	}
	s.refs[name][id] = struct{}{}
}

// Unref records that container id no longer uses volume name.
func (s *Store) Unref(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refs[name], id)
	if len(s.refs[name]) == 0 {
		delete(s.refs, name)
	}
}

// Remove deletes volume name and its data. A volume that a container
// uses is a conflict, force or not, in dockerd's words; force makes a
// missing volume not an error.
func (s *Store) Remove(name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remove(name, force)
}

// Preconditions: s.mu held.
func (s *Store) remove(name string, force bool) error {
	if _, ok := s.vols[name]; !ok {
		if force {
			return nil
		}
		return notFound(name)
	}
	if users := s.refs[name]; len(users) > 0 {
		return errdefs.Conflict(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(slices.Sorted(maps.Keys(users)), ", ")))
	}
	dir := filepath.Join(s.root, name)
	// Renamed aside first, so that a crash leaves either the volume
	// whole or a leftover Open removes.
	tmp := filepath.Join(s.root, ".removing-"+name)
	if err := os.Rename(dir, tmp); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	delete(s.vols, name)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Prune removes the volumes no container uses that keep(v) does not
// keep, and returns their names and the bytes they held.
func (s *Store) Prune(keep func(Volume) bool) ([]string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	var reclaimed uint64
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.vols)) {
		v := s.vols[name]
		if len(s.refs[name]) > 0 || keep(s.view(v)) {
			continue
		}
		size, _ := DirSize(v.Mountpoint)
		if err := s.remove(name, false); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, name)
		reclaimed += uint64(size)
	}
	return names, reclaimed, errors.Join(errs...)
}

// DirSize is the apparent size of the regular files under dir, not
// following symlinks.
func DirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}
