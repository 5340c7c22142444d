package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
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

func parseHierarchies(mountinfo []byte) *hierarchies {
	hs := &hierarchies{v1: map[string]string{}}
	s := bufio.NewScanner(bytes.NewReader(mountinfo))
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		// 36 35 98:0 /root /mnt rw,noatime master:1 - cgroup cgroup rw,memory
		line := s.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, pf := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(pf) < 3 {
			continue
		}
		root, mnt := unescapeOctal(f[3]), unescapeOctal(f[4])
		if root != "/" {
			continue
		}
		switch pf[0] {
		case "cgroup2":
			if hs.v2 == "" {
				hs.v2 = mnt
			}
		case "cgroup":
			for _, o := range strings.Split(pf[2], ",") {
				switch {
				case o == "rw" || o == "ro" || o == "clone_children" || o == "noprefix" ||
					o == "xattr" || o == "cpuset_v2_mode" || strings.HasPrefix(o, "release_agent="):
				default:
					if _, dup := hs.v1[o]; !dup {
						hs.v1[o] = mnt
					}
				}
			}
		}
	}
	return hs
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

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
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out["unified"] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}
