package rootfs

import (
	"strings"

	"github.com/capsa-dev/capsa/internal/mountinfo"
)

// mountInfo and procCgroup are the mountinfo package's types.
type (
	mountInfo  = mountinfo.Mount
	procCgroup = mountinfo.Cgroup
)

func parseMountInfo(b []byte) []mountInfo   { return mountinfo.Parse(b) }
func parseProcCgroup(b []byte) []procCgroup { return mountinfo.ParseCgroups(b) }

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}
