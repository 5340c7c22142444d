package cgroup

import (
	"fmt"
	"os"
	"strings"

	"github.com/capsa-dev/capsa/internal/mountinfo"
)

// hierarchies are the host's cgroup mounts.
type hierarchies struct {
	// v1 maps each v1 controller (or "name=x" of a named hierarchy) to the
	// mountpoint of its hierarchy; co-mounted controllers share one.
	v1 map[string]string
	// v2 is the cgroup2 mountpoint, or "".
	v2 string
}

// hostHierarchies reads the cgroup mounts from /proc/self/mountinfo. A
// hierarchy mounted more than once (a bind mount) counts once, at its
// first mountpoint whose root is the hierarchy's root.
func hostHierarchies() (*hierarchies, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return parseHierarchies(b), nil
}

func parseHierarchies(b []byte) *hierarchies {
	hs := &hierarchies{v1: map[string]string{}}
	for _, m := range mountinfo.Parse(b) {
		if m.Root != "/" {
			continue
		}
		switch m.FSType {
		case "cgroup2":
			if hs.v2 == "" {
				hs.v2 = m.Mountpoint
			}
		case "cgroup":
			for _, o := range strings.Split(m.SuperOpts, ",") {
				switch {
				case o == "rw" || o == "ro" || o == "clone_children" || o == "noprefix" ||
					o == "xattr" || o == "cpuset_v2_mode" || strings.HasPrefix(o, "release_agent="):
				default:
					if _, dup := hs.v1[o]; !dup {
						hs.v1[o] = m.Mountpoint
					}
				}
			}
		}
	}
	return hs
}

// ownCgroups returns the calling process's cgroup per controller, from
// /proc/self/cgroup ("" keys the v2 hierarchy).
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return parseProcCgroup(b), nil
}

func parseProcCgroup(b []byte) map[string]string {
	out := map[string]string{}
	for _, cg := range mountinfo.ParseCgroups(b) {
		if cg.Controllers == "" {
			out["unified"] = cg.Path
			continue
		}
		for _, c := range strings.Split(cg.Controllers, ",") {
			out[c] = cg.Path
		}
	}
	return out
}
