package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/snapshot"
)

// unpackParallel is how many layers Unpack extracts from the content
// store at once.
const unpackParallel = 3

// Unpacker makes the committed layer snapshots of images.
//
// On a snapshotter that stacks layers unpacked apart (a snapshot.Rebaser:
// overlay), each layer is extracted on its own into a snapshot without
// parent, straight into its directory (ApplyUpper: no mount), and the
// layers are committed in order onto each other once all are there. A
// pull hands each layer to Layer while it downloads (the Unpacker is the
// pull's LayerSink), so a pull ends with its layers unpacked; Unpack then
// extracts, in parallel, the layers that did not come that way (already
// in the content store) and commits the lot. Elsewhere Unpack applies
// layer after layer through mounts (unpackMounted).
//
// An Unpacker is for one pull or unpack: Close removes what it extracted
// and did not commit (a failed pull's layers).
type Unpacker struct {
	sn  snapshot.Snapshotter
	lim Limits

	mu sync.Mutex
	// extracted maps a chain ID to the key of the uncommitted snapshot
	// that holds the top layer of that chain, alone.
	extracted map[digest.Digest]string
}

// NewUnpacker returns an Unpacker that makes snapshots in sn, each layer
// bounded by lim.
func NewUnpacker(sn snapshot.Snapshotter, lim Limits) *Unpacker {
	return &Unpacker{sn: sn, lim: lim, extracted: map[digest.Digest]string{}}
}

// Wants reports whether the layer whose diff IDs, from the bottom layer
// up to it, are diffIDs should be extracted while it downloads: when the
// snapshotter stacks layers unpacked apart and that chain is not there.
func (u *Unpacker) Wants(ctx context.Context, diffIDs []digest.Digest) bool {
	if _, ok := u.sn.(snapshot.Rebaser); !ok || len(diffIDs) == 0 {
		return false
	}
	chain := identity.ChainID(diffIDs)
	u.mu.Lock()
	_, done := u.extracted[chain]
	u.mu.Unlock()
	return !done && !committed(ctx, u.sn, chain)
}

// Layer extracts a layer from its compressed stream r (media type as desc
// says), checks it against the last of diffIDs, and keeps it for Unpack.
func (u *Unpacker) Layer(ctx context.Context, desc ocispec.Descriptor, diffIDs []digest.Digest, r io.Reader) error {
	diffID := diffIDs[len(diffIDs)-1]
	rc, err := uncompressed(desc, diffID, r)
	if err != nil {
		return err
	}
	defer rc.Close()
	return u.extract(ctx, identity.ChainID(diffIDs), rc)
}

// extract applies the tar rc (which checks its diff ID at EOF) into a new
// snapshot without parent and records it as chain's top layer.
func (u *Unpacker) extract(ctx context.Context, chain digest.Digest, rc io.Reader) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := extractPrefix + hex.EncodeToString(rnd[:]) + "-" + chain.String()
	ms, err := u.sn.Prepare(ctx, key, "")
	if err != nil {
		return err
	}
	kept := false
	defer func() {
		if !kept {
			u.sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, err := plainDir(ms)
	if err != nil {
		return err
	}
	if err := ApplyUpper(ctx, dir, rc, u.lim); err != nil {
		return err
	}
	// Read to EOF (tar's end blocks, padding): the diff ID check is there.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, dup := u.extracted[chain]; dup {
		return nil // a concurrent extraction of the same chain was first; ours goes
	}
	u.extracted[chain] = key
	kept = true
	return nil
}

// plainDir is the directory of an active snapshot without parent: its
// one mount is a bind of it.
func plainDir(ms []snapshot.Mount) (string, error) {
	if len(ms) != 1 || ms[0].Type != "bind" {
		return "", fmt.Errorf("snapshot without parent has mounts %v, not one bind mount of its directory", ms)
	}
	return ms[0].Source, nil
}

// Unpack makes img's layer snapshots that do not exist, from the layers
// Layer extracted and, for the others, from the content store, and
// returns the top chain ID.
func (u *Unpacker) Unpack(ctx context.Context, img Image) (digest.Digest, error) {
	rb, ok := u.sn.(snapshot.Rebaser)
	if !ok {
		return unpackMounted(ctx, img, u.sn, u.lim)
	}
	layers := img.Layers()
	chains := make([]digest.Digest, len(layers))
	var diffIDs []digest.Digest
	for i, l := range layers {
		diffIDs = append(diffIDs, l.DiffID())
		chains[i] = identity.ChainID(diffIDs)
	}
	fail := func(i int, err error) error {
		return fmt.Errorf("unpack image %s: layer %d (%s): %w", img.Descriptor().Digest, i, layers[i].Descriptor().Digest, err)
	}
	// Extract, a few at a time, the layers neither committed nor
	// extracted already.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(unpackParallel)
	for i, l := range layers {
		u.mu.Lock()
		_, have := u.extracted[chains[i]]
		u.mu.Unlock()
		if have || committed(ctx, u.sn, chains[i]) {
			continue
		}
		g.Go(func() error {
			rc, err := l.Uncompressed(gctx)
			if err != nil {
				return fail(i, err)
			}
			defer rc.Close()
			if err := u.extract(gctx, chains[i], rc); err != nil {
				return fail(i, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	// Stack them, bottom first.
	var parent digest.Digest
	for i, chain := range chains {
		if committed(ctx, u.sn, chain) {
			parent = chain
			continue
		}
		u.mu.Lock()
		key, ok := u.extracted[chain]
		delete(u.extracted, chain)
		u.mu.Unlock()
		if !ok {
			return "", fail(i, fmt.Errorf("snapshot %s vanished while unpacking", chain))
		}
		if err := rb.CommitOnto(ctx, chain.String(), key, parent.String()); err != nil {
			u.sn.Remove(context.WithoutCancel(ctx), key)
			if !errors.Is(err, errdefs.ErrAlreadyExists) { // else another unpack of the same layers won
				return "", fail(i, err)
			}
		}
		parent = chain
	}
	return parent, nil
}

// Close removes the layers extracted and not committed.
func (u *Unpacker) Close(ctx context.Context) error {
	u.mu.Lock()
	keys := u.extracted
	u.extracted = map[digest.Digest]string{}
	u.mu.Unlock()
	var errs []error
	for _, key := range keys {
		if err := u.sn.Remove(ctx, key); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
