package rootfs

import (
	"strconv"
	"strings"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	ID         int
	Parent     int
	Dev        string // major:minor
	Root       string // path of the mount's root inside its filesystem
	Mountpoint string
	Optional   []string // "shared:N", "master:N", ...
	FSType     string
	Source     string
	SuperOpts  string
}

func parseMountInfo(b []byte) []mountInfo {
	var out []mountInfo
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
		out = append(out, mountInfo{
			ID:         id,
			Parent:     parent,
			Dev:        f[2],
			Root:       unescapeOctal(f[3]),
			Mountpoint: unescapeOctal(f[4]),
			Optional:   f[6:sep],
			FSType:     f[sep+1],
			Source:     unescapeOctal(f[sep+2]),
			SuperOpts:  f[sep+3],
		})
	}
	return out
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline
// and backslash in mountinfo paths.
func unescapeOctal(s string) string {
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

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// procCgroup is one line of /proc/self/cgroup.
type procCgroup struct {
	Controllers string // "cpu,cpuacct", "name=systemd", or "" for cgroup2
	Path        string
}

func parseProcCgroup(b []byte) []procCgroup {
	var out []procCgroup
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		out = append(out, procCgroup{Controllers: parts[1], Path: parts[2]})
	}
	return out
}
