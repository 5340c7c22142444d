package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/capsa-dev/capsa/internal/atomicfile"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// validName is docker's rule for network names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// store keeps one JSON file per network under dir, written atomically.
type store struct {
	dir string
}

func (s store) path(id string) string { return filepath.Join(s.dir, id+".json") }

func (s store) load() ([]Network, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Network
	for _, ent := range ents {
		name := ent.Name()
		if !strings.HasSuffix(name, ".json") {
			continue // an atomic write's temporary file, left by a crash
		}
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			return nil, err
		}
		var n Network
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, fmt.Errorf("network record %s: %w", name, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (s store) save(n Network) error {
	data, err := json.MarshalIndent(n, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(n.ID), data, 0o600)
}

func (s store) remove(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// find returns the network that ref names: a full name, a full ID, or a
// unique ID prefix (docker's order).
func find(nets []Network, ref string) (Network, error) {
	for _, n := range nets {
		if n.ID == ref {
			return n, nil
		}
	}
	for _, n := range nets {
		if n.Name == ref {
			return n, nil
		}
	}
	var hits []Network
	for _, n := range nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			hits = append(hits, n)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return Network{}, errdefs.NotFound(fmt.Sprintf("network %s not found", ref))
	}
	return Network{}, errdefs.Invalid(fmt.Sprintf("network %s is ambiguous (%d matches found on name)", ref, len(hits)))
}

func sortNetworks(nets []Network) {
	slices.SortFunc(nets, func(a, b Network) int {
		if a.Predefined != b.Predefined {
			if a.Predefined {
				return -1
			}
			return 1
		}
		return a.Created.Compare(b.Created)
	})
}
