// Package snapshot defines snapshotters: stores of filesystem trees built as
// a chain of layers, where a committed snapshot is read-only and shared by
// every snapshot prepared on it, and an active snapshot is one writable
// copy-on-write layer on top of its parents (an image's layers, then a
// container's upper).
//
// The life of a snapshot:
//
//	Prepare(key, parent) ──► active (writable) ──Commit(name, key)──► committed (read-only, a parent)
//	View(key, parent)    ──► view (read-only, never committed)
//	Remove(key)              any kind; refused while the snapshot has children
//
// Keys and names share one namespace. A snapshotter returns Mounts, which the
// caller (or the runtime, inside a container's mount namespace) mounts; the
// snapshotter mounts nothing itself. Implementations live in subpackages
// (overlay) and all pass the conformance suite in snapshottest.
package snapshot

import (
	"context"
	"time"
)

// Kind is the kind of a snapshot.
type Kind int

// The kinds.
const (
	KindUnknown Kind = iota
	KindView
	KindActive
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// Info describes a snapshot.
type Info struct {
	Kind    Kind
	Name    string // the key, or the name it was committed as
	Parent  string // "" for a snapshot without parent
	Created time.Time
}

// Snapshotter stores snapshots. Errors are categorized with errdefs:
// ErrNotFound for an unknown key or parent, ErrAlreadyExists for a key in
// use, ErrInvalid for a parent that is not committed or a Commit of a
// snapshot that is not active, ErrConflict for removing a snapshot that
// has children.
type Snapshotter interface {
	// Prepare makes a writable snapshot on parent ("" for none) and returns
	// how to mount it.
	Prepare(ctx context.Context, key, parent string) ([]Mount, error)
	// View makes a read-only snapshot of parent.
	View(ctx context.Context, key, parent string) ([]Mount, error)
	// Mounts returns how to mount an active snapshot or a view.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name;
	// key is gone afterwards. The caller must have unmounted it.
	Commit(ctx context.Context, name, key string) error
	// Stat describes the snapshot key.
	Stat(ctx context.Context, key string) (Info, error)
	// Remove deletes a snapshot that has no children.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot, in key order.
	Walk(ctx context.Context, fn func(Info) error) error
	// Close releases the snapshotter's resources (its metadata store).
	Close() error
}

// Rebaser is a Snapshotter whose layers are self-contained diffs: an
// active snapshot prepared without a parent can be committed onto any
// committed parent afterwards. Layers can then be unpacked apart, in
// parallel, while they download, and stacked in order once they are all
// there.
type Rebaser interface {
	// CommitOnto is Commit of an active snapshot without parent that
	// gives the committed snapshot name the parent parent.
	CommitOnto(ctx context.Context, name, key, parent string) error
}
