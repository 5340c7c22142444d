package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

var bucketImages = []byte("images")

// Record names an image: a reference and the descriptor of its manifest
// (or index) in the content store. A store holds three kinds of names,
// as containerd's image store does under docker 28:
//
//   - tags, "busybox:latest" (the familiar form of a tagged reference);
//   - repo digests, "busybox@sha256:<digest>", recorded when an image is
//     pulled or pushed: the digest is the manifest's or index's as the
//     registry has it, which is also the record's target;
//   - dangling records, "moby-dangling@sha256:<digest>" (DanglingName),
//     which keep an image that has no other name: one a tag moved away
//     from, or one committed or loaded without a name.
//
// Every record is a root for garbage collection, whatever its kind.
type Record struct {
	Name    string             `json:"name"`
	Target  ocispec.Descriptor `json:"target"`
	Created time.Time          `json:"created"`
	Updated time.Time          `json:"updated"`
}

// danglingPrefix begins a dangling record's name (docker's own prefix,
// so that the names read the same in both engines).
const danglingPrefix = "moby-dangling@"

// DanglingName is the name of the record that keeps the image whose
// manifest (or index) has digest d when it has no other name.
func DanglingName(d digest.Digest) string { return danglingPrefix + d.String() }

// IsDangling reports a dangling record's name ("<none>:<none>", the name
// imports without a repository were once stored under, counts too).
func IsDangling(name string) bool {
	return strings.HasPrefix(name, danglingPrefix) || name == "<none>:<none>"
}

// IsDigestName reports a repo digest's name ("busybox@sha256:...").
func IsDigestName(name string) bool {
	return !IsDangling(name) && strings.Contains(name, "@")
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

// Put creates or moves the record name to target, and nothing else (Tag
// is what keeps the image a name moves away from).
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

// TagResult is what Tag changed besides the name itself.
type TagResult struct {
	// Previous is the image the name pointed at before, when the name
	// moved to another image (zero otherwise).
	Previous ocispec.Descriptor
	// KeptDangling is set when Previous had no other name left and got a
	// dangling record.
	KeptDangling bool
}

// Tag points the name (a tag or a repo digest, not a dangling name) at
// target, in one transaction with what it implies: when the name moves
// away from an image that no other record points at, that image keeps a
// dangling record (so a tag moved by a pull, tag, commit or load does not
// lose the image it named); and target, named now, loses its dangling
// record.
func (s *Store) Tag(ctx context.Context, name string, target ocispec.Descriptor) (TagResult, error) {
	if name == "" || IsDangling(name) {
		return TagResult{}, errdefs.Invalid(fmt.Sprintf("image name %q: not a tag or a digest", name))
	}
	var res TagResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		now := time.Now().UTC()
		r := Record{Name: name, Target: target, Created: now, Updated: now}
		if v := b.Get([]byte(name)); v != nil {
			var old Record
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("image %q: bad record: %w", name, err)
			}
			r.Created = old.Created
			if old.Target.Digest != target.Digest {
				res.Previous = old.Target
			}
		}
		if err := putRecord(b, r); err != nil {
			return err
		}
		if res.Previous.Digest != "" {
			named, err := namesOf(b, res.Previous.Digest)
			if err != nil {
				return err
			}
			if len(named) == 0 {
				if err := putRecord(b, Record{Name: DanglingName(res.Previous.Digest), Target: res.Previous, Created: now, Updated: now}); err != nil {
					return err
				}
				res.KeptDangling = true
			}
		}
		if err := b.Delete([]byte(DanglingName(target.Digest))); err != nil {
			return err
		}
		return nil
	})
	return res, err
}

// PutDangling keeps target under its dangling record unless another
// record already points at it; it reports whether it made the record.
func (s *Store) PutDangling(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	made := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		named, err := namesOf(b, target.Digest)
		if err != nil {
			return err
		}
		if len(named) > 0 || b.Get([]byte(DanglingName(target.Digest))) != nil {
			return nil
		}
		now := time.Now().UTC()
		made = true
		return putRecord(b, Record{Name: DanglingName(target.Digest), Target: target, Created: now, Updated: now})
	})
	return made, err
}

// Remove deletes the records names (missing ones are skipped) in one
// transaction. With keep, an image that loses its last record to this
// removal keeps a dangling record instead (docker keeps an image a
// container uses when its last name is removed by force).
func (s *Store) Remove(ctx context.Context, names []string, keep bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		targets := map[digest.Digest]Record{}
		for _, n := range names {
			v := b.Get([]byte(n))
			if v == nil {
				continue
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("image %q: bad record: %w", n, err)
			}
			targets[r.Target.Digest] = r
			if err := b.Delete([]byte(n)); err != nil {
				return err
			}
		}
		if !keep {
			return nil
		}
		for d, r := range targets {
			named, err := namesOf(b, d)
			if err != nil {
				return err
			}
			if len(named) == 0 && b.Get([]byte(DanglingName(d))) == nil {
				now := time.Now().UTC()
				if err := putRecord(b, Record{Name: DanglingName(d), Target: r.Target, Created: now, Updated: now}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// namesOf lists the records other than dangling ones that point at d.
func namesOf(b *bolt.Bucket, d digest.Digest) ([]string, error) {
	var out []string
	err := b.ForEach(func(k, v []byte) error {
		if IsDangling(string(k)) {
			return nil
		}
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("image %q: bad record: %w", k, err)
		}
		if r.Target.Digest == d {
			out = append(out, r.Name)
		}
		return nil
	})
	return out, err
}

func putRecord(b *bolt.Bucket, r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.Name), v)
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
