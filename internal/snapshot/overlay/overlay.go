// Package overlay is the overlayfs snapshotter: every snapshot is a
// directory, committed snapshots are the read-only lower layers of the
// snapshots prepared on them, and an active snapshot is an overlay upper.
//
// Layout under the root:
//
//	metadata.db             bbolt: key → {id, kind, parent, created}
//	snapshots/<id>/fs       the snapshot's files (an overlay upperdir)
//	snapshots/<id>/work     overlay's workdir (active snapshots only)
//
// Every change of metadata is one bbolt transaction, and directories are
// made before and removed after it, so a crash at any moment leaves a
// database that opens and at worst a directory no record names; Open
// removes those. Snapshot ids are short decimal numbers, which keeps the
// lowerdir option short (see snapshot.Mount for chains longer than a page).
package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

var bucketSnapshots = []byte("snapshots")

// record is a snapshot's metadata, stored as JSON under its key.
type record struct {
	ID      uint64        `json:"id"`
	Kind    snapshot.Kind `json:"kind"`
	Parent  string        `json:"parent,omitempty"`
	Created time.Time     `json:"created"`
}

// Snapshotter is the overlayfs snapshotter.
type Snapshotter struct {
	root string
	db   *bolt.DB

	// mu serializes changes, so that the directory undo of a failed
	// transaction runs before another transaction can reuse its id.
	mu sync.Mutex
}

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// New opens (creating if needed) the overlay snapshotter at root. Only one
// process may have a root open; another waits up to a second, then fails
// with ErrUnavailable.
func New(ctx context.Context, root string) (*Snapshotter, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("open snapshotter %q: %w", root, err)
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open snapshotter %q: metadata in use by another process: %w", root, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("open snapshotter %q: %w", root, err)
	}
	o := &Snapshotter{root: root, db: db}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketSnapshots)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open snapshotter %q: %w", root, err)
	}
	if err := o.removeOrphans(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open snapshotter %q: %w", root, err)
	}
	return o, nil
}

// Close closes the metadata database.
func (o *Snapshotter) Close() error { return o.db.Close() }

func (o *Snapshotter) dir(id uint64) string {
	return filepath.Join(o.root, "snapshots", strconv.FormatUint(id, 10))
}

// removeOrphans removes snapshot directories that no record names: made
// by a create whose transaction never committed, or left by a remove whose
// transaction did.
func (o *Snapshotter) removeOrphans() error {
	ids := map[string]bool{}
	if err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: bad record: %w", k, err)
			}
			ids[strconv.FormatUint(r.ID, 10)] = true
			return nil
		})
	}); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(o.root, "snapshots"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if ids[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(o.root, "snapshots", e.Name())); err != nil {
			return fmt.Errorf("remove orphan snapshot dir %s: %w", e.Name(), err)
		}
	}
	return nil
}

func getRecord(b *bolt.Bucket, key string) (record, bool, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return record{}, false, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, false, fmt.Errorf("snapshot %q: bad record: %w", key, err)
	}
	return r, true, nil
}

func putRecord(b *bolt.Bucket, key string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

func checkKey(key string) error {
	if key == "" {
		return errdefs.Invalid("snapshot key: empty")
	}
	return nil
}

// Prepare makes an active snapshot on parent.
func (o *Snapshotter) Prepare(ctx context.Context, key, parent string) ([]snapshot.Mount, error) {
	return o.create(ctx, snapshot.KindActive, key, parent)
}

// View makes a read-only snapshot of parent.
func (o *Snapshotter) View(ctx context.Context, key, parent string) ([]snapshot.Mount, error) {
	return o.create(ctx, snapshot.KindView, key, parent)
}

func (o *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string) ([]snapshot.Mount, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var dir string
	var ms []snapshot.Mount
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if _, ok, err := getRecord(b, key); err != nil {
			return err
		} else if ok {
			return errdefs.AlreadyExists(fmt.Sprintf("snapshot %q: already exists", key))
		}
		if parent != "" {
			p, ok, err := getRecord(b, parent)
			if err != nil {
				return err
			}
			if !ok {
				return errdefs.NotFound(fmt.Sprintf("snapshot %q: parent %q: not found", key, parent))
			}
			if p.Kind != snapshot.KindCommitted {
				return errdefs.Invalid(fmt.Sprintf("snapshot %q: parent %q is %s, not committed", key, parent, p.Kind))
			}
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		dir = o.dir(id)
		// An id whose transaction never committed may have left its
		// directory behind; it belongs to no one.
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
		if kind == snapshot.KindActive {
			if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
				return err
			}
		}
		r := record{ID: id, Kind: kind, Parent: parent, Created: time.Now().UTC()}
		if err := putRecord(b, key, r); err != nil {
			return err
		}
		ms, err = o.mounts(b, key, r)
		return err
	})
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		if errors.Is(err, errdefs.ErrAlreadyExists) || errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	return ms, nil
}

// Mounts returns how to mount an active snapshot or a view.
func (o *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	var ms []snapshot.Mount
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, ok, err := getRecord(b, key)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.NotFound(fmt.Sprintf("snapshot %q: not found", key))
		}
		ms, err = o.mounts(b, key, r)
		return err
	})
	return ms, err
}

// mounts builds the mounts of snapshot key:
//
//	active, no parent      bind rw of its fs
//	active, parents        overlay lowerdir=parents (newest first),upperdir=fs,workdir=work
//	view, no parent        bind ro of its (empty) fs
//	view, one parent       bind ro of the parent's fs
//	view, parents          overlay lowerdir=parents (read-only: no upper)
func (o *Snapshotter) mounts(b *bolt.Bucket, key string, r record) ([]snapshot.Mount, error) {
	if r.Kind == snapshot.KindCommitted {
		return nil, errdefs.Invalid(fmt.Sprintf("snapshot %q is committed: mount a view or a snapshot prepared on it", key))
	}
	var lowers []string
	seen := map[string]bool{key: true}
	for p := r.Parent; p != ""; {
		if seen[p] {
			return nil, fmt.Errorf("snapshot %q: parent loop at %q", key, p)
		}
		seen[p] = true
		pr, ok, err := getRecord(b, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("snapshot %q: ancestor %q missing", key, p)
		}
		lowers = append(lowers, filepath.Join(o.dir(pr.ID), "fs"))
		p = pr.Parent
	}
	fsDir := filepath.Join(o.dir(r.ID), "fs")
	switch {
	case r.Kind == snapshot.KindActive && len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: fsDir, Options: []string{"rbind", "rw"}}}, nil
	case r.Kind == snapshot.KindActive:
		opts := []string{
			"lowerdir=" + strings.Join(lowers, ":"),
			"upperdir=" + fsDir,
			"workdir=" + filepath.Join(o.dir(r.ID), "work"),
		}
		if indexOptionSupported() {
			opts = append(opts, "index=off")
		}
		return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	case len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: fsDir, Options: []string{"rbind", "ro"}}}, nil
	case len(lowers) == 1:
		return []snapshot.Mount{{Type: "bind", Source: lowers[0], Options: []string{"rbind", "ro"}}}, nil
	default:
		return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + strings.Join(lowers, ":"),
		}}}, nil
	}
}

// indexOptionSupported reports whether overlayfs knows the index option
// (Linux 4.13+). A kernel built with the index on by default records each
// upper's origin in its lowers' file handles and then refuses to mount the
// same lower layer under a second upper; capsa shares every committed layer
// among all containers of an image, so it turns the index off.
var indexOptionSupported = sync.OnceValue(func() bool {
	_, err := os.Stat("/sys/module/overlay/parameters/index")
	return err == nil
})

// Commit turns the active snapshot key into the committed snapshot name.
// key must not be mounted any more.
func (o *Snapshotter) Commit(ctx context.Context, name, key string) error {
	return o.commit(name, key, nil)
}

// CommitOnto turns the active snapshot key, prepared without a parent,
// into the committed snapshot name on parent. An overlay snapshot's
// directory is a self-contained diff (its whiteouts are 0/0 devices and
// opaque xattrs, which mean the same on any lower layers), so layers can
// be unpacked apart, in parallel, and stacked afterwards. key must not be
// mounted any more.
func (o *Snapshotter) CommitOnto(ctx context.Context, name, key, parent string) error {
	return o.commit(name, key, &parent)
}

// commit is Commit, and with onto CommitOnto: the committed snapshot's
// parent becomes *onto.
func (o *Snapshotter) commit(name, key string, onto *string) error {
	if err := checkKey(name); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, ok, err := getRecord(b, key)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.NotFound(fmt.Sprintf("commit snapshot %q: not found", key))
		}
		if r.Kind != snapshot.KindActive {
			return errdefs.Invalid(fmt.Sprintf("commit snapshot %q: it is %s, not active", key, r.Kind))
		}
		if onto != nil {
			if err := checkOnto(b, key, r, *onto); err != nil {
				return err
			}
			r.Parent = *onto
		}
		if _, ok, err := getRecord(b, name); err != nil {
			return err
		} else if ok {
			return errdefs.AlreadyExists(fmt.Sprintf("commit snapshot %q as %q: %q already exists", key, name, name))
		}
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		r.Kind = snapshot.KindCommitted
		r.Created = time.Now().UTC()
		return putRecord(b, name, r)
	})
}

// checkOnto refuses a CommitOnto of a snapshot that has a parent
// already, or onto a parent that is not a committed snapshot.
func checkOnto(b *bolt.Bucket, key string, r record, parent string) error {
	if r.Parent != "" {
		return errdefs.Invalid(fmt.Sprintf("commit snapshot %q onto %q: it has the parent %q already", key, parent, r.Parent))
	}
	if parent == "" {
		return nil
	}
	p, ok, err := getRecord(b, parent)
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.NotFound(fmt.Sprintf("commit snapshot %q onto %q: parent not found", key, parent))
	}
	if p.Kind != snapshot.KindCommitted {
		return errdefs.Invalid(fmt.Sprintf("commit snapshot %q onto %q: parent is %s, not committed", key, parent, p.Kind))
	}
	return nil
}

// Stat describes the snapshot key.
func (o *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var info snapshot.Info
	err := o.db.View(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx.Bucket(bucketSnapshots), key)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.NotFound(fmt.Sprintf("snapshot %q: not found", key))
		}
		info = snapshot.Info{Kind: r.Kind, Name: key, Parent: r.Parent, Created: r.Created}
		return nil
	})
	return info, err
}

// Remove deletes a snapshot without children. An active snapshot or view
// must not be mounted any more.
func (o *Snapshotter) Remove(ctx context.Context, key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var id uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, ok, err := getRecord(b, key)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.NotFound(fmt.Sprintf("remove snapshot %q: not found", key))
		}
		var children []string
		if err := b.ForEach(func(k, v []byte) error {
			var c record
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("snapshot %q: bad record: %w", k, err)
			}
			if c.Parent == key {
				children = append(children, string(k))
			}
			return nil
		}); err != nil {
			return err
		}
		if len(children) > 0 {
			return errdefs.Conflict(fmt.Sprintf("remove snapshot %q: it has children %q", key, children))
		}
		id = r.ID
		return b.Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	// After the commit: a crash here leaves an orphan directory that the
	// next New removes.
	if err := os.RemoveAll(o.dir(id)); err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	return nil
}

// Walk calls fn for every snapshot in key order. fn runs inside a read
// transaction and must not call the snapshotter's changing methods.
func (o *Snapshotter) Walk(ctx context.Context, fn func(snapshot.Info) error) error {
	return o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: bad record: %w", k, err)
			}
			return fn(snapshot.Info{Kind: r.Kind, Name: string(k), Parent: r.Parent, Created: r.Created})
		})
	})
}

// Check verifies that metadata and directories agree: every record has
// its fs directory (and an active one its work directory) and no directory
// lacks a record. The conformance suite runs it after each crash.
func (o *Snapshotter) Check(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := map[string]snapshot.Kind{}
	if err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: bad record: %w", k, err)
			}
			want[strconv.FormatUint(r.ID, 10)] = r.Kind
			return nil
		})
	}); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(o.root, "snapshots"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, ok := want[e.Name()]; !ok {
			return fmt.Errorf("snapshot dir %s: no record", e.Name())
		}
	}
	for id, kind := range want {
		if _, err := os.Stat(filepath.Join(o.root, "snapshots", id, "fs")); err != nil {
			return fmt.Errorf("snapshot %s: %w", id, err)
		}
		if kind == snapshot.KindActive {
			if _, err := os.Stat(filepath.Join(o.root, "snapshots", id, "work")); err != nil {
				return fmt.Errorf("snapshot %s: %w", id, err)
			}
		}
	}
	return nil
}

// Dir returns the directory holding the files of snapshot key, for tools
// that read a committed layer directly (diff, export). Writing to it is
// only safe for an active snapshot that is not mounted.
func (o *Snapshotter) Dir(ctx context.Context, key string) (string, error) {
	var dir string
	err := o.db.View(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx.Bucket(bucketSnapshots), key)
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.NotFound(fmt.Sprintf("snapshot %q: not found", key))
		}
		dir = filepath.Join(o.dir(r.ID), "fs")
		return nil
	})
	return dir, err
}
