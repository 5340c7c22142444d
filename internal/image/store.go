package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

var bucketImages = []byte("images")

// Record names an image: a reference ("busybox:latest") and the
// descriptor of its manifest in the content store.
type Record struct {
	Name    string             `json:"name"`
	Target  ocispec.Descriptor `json:"target"`
	Created time.Time          `json:"created"`
	Updated time.Time          `json:"updated"`
}

// Store keeps image records in a bbolt database, one transaction per
// change.
type Store struct {
	db *bolt.DB
}

// OpenStore opens (creating if needed) the image records at path.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open image store %q: in use by another process: %w", path, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("open image store %q: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketImages)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open image store %q: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Put creates or moves the record name to target.
func (s *Store) Put(ctx context.Context, name string, target ocispec.Descriptor) error {
	if name == "" {
		return errdefs.Invalid("image name: empty")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		now := time.Now().UTC()
		r := Record{Name: name, Target: target, Created: now, Updated: now}
		if v := b.Get([]byte(name)); v != nil {
			var old Record
			if json.Unmarshal(v, &old) == nil {
				r.Created = old.Created
			}
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), v)
	})
}

// Get returns the record name.
func (s *Store) Get(ctx context.Context, name string) (Record, error) {
	var r Record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketImages).Get([]byte(name))
		if v == nil {
			return errdefs.NotFound(fmt.Sprintf("image %q: not found", name))
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("image %q: bad record: %w", name, err)
		}
		return nil
	})
	return r, err
}

// List returns every record in name order.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("image %q: bad record: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Delete removes the record name (not its content: that is garbage
// collection's, once no record refers to it).
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		if b.Get([]byte(name)) == nil {
			return errdefs.NotFound(fmt.Sprintf("image %q: not found", name))
		}
		return b.Delete([]byte(name))
	})
}
