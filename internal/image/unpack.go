package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// Unpack makes a committed snapshot for each layer of img, named by the
// chain ID of the layers up to it (so images sharing a base share its
// snapshots), skipping those that exist, and returns the top chain ID: the
// parent to Prepare a container's snapshot on. See Unpacker.
func Unpack(ctx context.Context, img Image, sn snapshot.Snapshotter, lim Limits) (digest.Digest, error) {
	u := NewUnpacker(sn, lim)
	defer u.Close(context.WithoutCancel(ctx))
	return u.Unpack(ctx, img)
}

// unpackMounted is Unpack on a snapshotter that cannot stack layers
// unpacked apart (not a snapshot.Rebaser): layer after layer, each
// applied through the mounts of a snapshot Prepared on the one below, on
// a temporary mount point, and committed only once its tar was read to
// the end and matched its diff ID; on any error the snapshot is removed
// and nothing under the chain ID exists. The temporary mount points are
// made under os.TempDir ($TMPDIR) and removed; the mounts themselves live
// in a thread's private mount namespace (see applyMounted).
func unpackMounted(ctx context.Context, img Image, sn snapshot.Snapshotter, lim Limits) (digest.Digest, error) {
	var parent digest.Digest
	var diffIDs []digest.Digest
	for i, l := range img.Layers() {
		diffIDs = append(diffIDs, l.DiffID())
		chain := identity.ChainID(diffIDs)
		if committed(ctx, sn, chain) {
			parent = chain
			continue
		}
		if err := unpackLayer(ctx, sn, l, chain, parent, lim); err != nil {
			return "", fmt.Errorf("unpack image %s: layer %d (%s): %w", img.Descriptor().Digest, i, l.Descriptor().Digest, err)
		}
		parent = chain
	}
	return parent, nil
}

// committed reports whether the layer snapshot chain exists.
func committed(ctx context.Context, sn snapshot.Snapshotter, chain digest.Digest) bool {
	info, err := sn.Stat(ctx, chain.String())
	return err == nil && info.Kind == snapshot.KindCommitted
}

// extractPrefix starts the keys of the active snapshots Unpack applies
// layers in; GCSnapshots removes stale ones.
const extractPrefix = "extract-"

func unpackLayer(ctx context.Context, sn snapshot.Snapshotter, l Layer, chain, parent digest.Digest, lim Limits) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := extractPrefix + hex.EncodeToString(rnd[:]) + "-" + chain.String()
	ms, err := sn.Prepare(ctx, key, parent.String())
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	if err := applyMounted(ctx, ms, l, lim); err != nil {
		return err
	}
	if err := sn.Commit(ctx, chain.String(), key); err != nil {
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil // another unpack of the same layers won; ours is removed
		}
		return err
	}
	committed = true
	return nil
}

// applyMounted mounts ms on a temporary directory, applies l there and
// unmounts, whatever happens.
//
// The mount is made in a mount namespace of its own, private to one OS
// thread: the goroutine locks its thread, unshares the mount namespace
// (which for a thread also unshares its fs context), makes it private and
// mounts there. The thread is never unlocked, so the Go runtime ends it
// with the goroutine, and the namespace and its mount go with it. No one
// else sees the mount, and a kill -9 of the process in the middle leaves
// nothing mounted on the host (it used to leave a capsa-unpack-* mount
// per interrupted unpack).
//
// The one thread Go never ends is the main thread (it parks it instead),
// and /proc/self/mountinfo shows the main thread's namespace: a goroutine
// that lands there keeps it, untouched, until a goroutine it starts (which
// then runs on another thread) has done the work.
func applyMounted(ctx context.Context, ms []snapshot.Mount, l Layer, lim Limits) error {
	target, err := os.MkdirTemp("", "capsa-unpack-")
	if err != nil {
		return err
	}
	defer os.Remove(target)
	return onPrivateThread(func() error { return applyInPrivateMount(ctx, ms, l, lim, target) })
}

// onPrivateThread runs fn on a locked OS thread, other than the main
// thread, that ends when fn returns.
func onPrivateThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			errc <- onPrivateThread(fn)
			runtime.UnlockOSThread()
			return
		}
		errc <- fn() // never unlocked: the thread ends with the goroutine
	}()
	return <-errc
}

// applyInPrivateMount is applyMounted's work on its own thread.
func applyInPrivateMount(ctx context.Context, ms []snapshot.Mount, l Layer, lim Limits, target string) (retErr error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := snapshot.MountAll(ms, target); err != nil {
		return err
	}
	defer func() {
		if err := snapshot.UnmountAll(target); err != nil && retErr == nil {
			retErr = err
		}
	}()
	rc, err := l.Uncompressed(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := ApplyLayer(ctx, target, rc, lim); err != nil {
		return err
	}
	// Read to EOF (tar's end blocks, padding): the diff ID check is there.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return nil
}

// RemoveExtractions removes every extraction snapshot: the layers that
// unpacks and pulls were extracting. Call it only when none runs (when
// the store opens): those of a killed process are then leftovers.
func RemoveExtractions(ctx context.Context, sn snapshot.Snapshotter) ([]string, error) {
	var keys []string
	if err := sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindActive && strings.HasPrefix(i.Name, extractPrefix) {
			keys = append(keys, i.Name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var removed []string
	for _, k := range keys {
		if err := sn.Remove(ctx, k); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return removed, fmt.Errorf("remove leftover extraction %q: %w", k, err)
		}
		removed = append(removed, k)
	}
	return removed, nil
}
