// Package mountinfo parses /proc/PID/mountinfo and /proc/PID/cgroup, the
// kernel's views of a process's mounts and cgroups that the rootfs
// planner and the cgroup manager both read.
package mountinfo

import (
	"strconv"
	"strings"
)

// Mount is one line of mountinfo (proc(5)).
type Mount struct {
	ID     int
	Parent int
	Dev    string // major:minor
	// Root is the path of the mount's root inside its filesystem.
	Root       string
	Mountpoint string
	Optional   []string // "shared:N", "master:N", ...
	FSType     string
	Source     string
	SuperOpts  string
}

// Parse parses mountinfo; malformed lines are skipped.
func Parse(b []byte) []Mount {
	var out []Mount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+4 {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		parent, _ := strconv.Atoi(f[1])
		out = append(out, Mount{
			ID:         id,
			Parent:     parent,
			Dev:        f[2],
			Root:       Unescape(f[3]),
			Mountpoint: Unescape(f[4]),
			Optional:   f[6:sep],
			FSType:     f[sep+1],
			Source:     Unescape(f[sep+2]),
			SuperOpts:  f[sep+3],
		})
	}
	return out
}

// Unescape undoes the kernel's \ooo escaping of space, tab, newline and
// backslash in mountinfo paths.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Cgroup is one line of /proc/PID/cgroup.
type Cgroup struct {
	// Controllers is "cpu,cpuacct", "name=systemd", or "" for cgroup v2.
	Controllers string
	Path        string
}

// ParseCgroups parses /proc/PID/cgroup.
func ParseCgroups(b []byte) []Cgroup {
	var out []Cgroup
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		out = append(out, Cgroup{Controllers: parts[1], Path: parts[2]})
	}
	return out
}
