package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Filesystem is where a container's root filesystem lives on the host:
// Root, the overlay mount (mounted from create until removal); Upper, its
// writable layer; Lowers, the image's layers, top-most first.
type Filesystem struct {
	Root   string
	Upper  string
	Lowers []string
}

// Filesystem returns where container ref's files are, for cp, diff and
// export; its root is mounted again if it is missing (after a reboot).
func (e *Engine) Filesystem(ctx context.Context, ref string) (Filesystem, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return Filesystem{}, err
	}
	c.mu.Lock()
	id, st := c.rec.ID, c.rec.State.Status
	c.mu.Unlock()
	if st == StatusRemoving || st == StatusDead {
		return Filesystem{}, errdefs.Conflict(fmt.Sprintf("container %s is %s", shortID(id), st))
	}
	if err := e.ensureMounted(ctx, id); err != nil {
		return Filesystem{}, err
	}
	ms, err := e.snap.Mounts(ctx, id)
	if err != nil {
		return Filesystem{}, err
	}
	fs := Filesystem{Root: e.rootfsDir(id)}
	for _, m := range ms {
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				fs.Upper = v
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				fs.Lowers = strings.Split(v, ":")
			}
		}
		if m.Type == "bind" && fs.Upper == "" {
			fs.Upper = m.Source
		}
	}
	return fs, nil
}
