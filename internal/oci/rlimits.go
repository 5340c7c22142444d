package oci

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Ulimit is one --ulimit: name=soft[:hard].
type Ulimit struct {
	Name       string // as Docker spells it: "nofile"
	Soft, Hard uint64 // RLIM_INFINITY for -1
}

// ulimitResources are the names --ulimit accepts (go-units' list).
var ulimitResources = map[string]int{
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"rttime":     unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// The default RLIMIT_NOFILE, each part capped at the host's hard limit.
const (
	defaultNofileSoft = 1024
	defaultNofileHard = 1048576
)

// hostRlimit reads the engine's own limit of resource: the most a
// container it starts can be given. A variable for tests.
var hostRlimit = func(resource int) (unix.Rlimit, error) {
	var rl unix.Rlimit
	err := unix.Getrlimit(resource, &rl)
	return rl, err
}

// canRaiseRlimits reports whether the engine holds CAP_SYS_RESOURCE and
// so may raise a hard limit above its own. A variable for tests.
var canRaiseRlimits = func() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}

// defaultRlimits are the rlimits every container gets: NOFILE 1024
// soft, 1048576 hard, neither above this host's hard limit (without
// CAP_SYS_RESOURCE the runtime could not raise it, and the container
// would fail to start).
func defaultRlimits() ([]specs.POSIXRlimit, error) {
	host, err := hostRlimit(unix.RLIMIT_NOFILE)
	if err != nil {
		return nil, fmt.Errorf("read the host's RLIMIT_NOFILE: %w", err)
	}
	hard := min(uint64(defaultNofileHard), host.Max)
	soft := min(uint64(defaultNofileSoft), hard)
	return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: soft, Hard: hard}}, nil
}

// ParseUlimit parses a --ulimit value, "name=soft[:hard]"; a missing hard
// limit equals the soft one, and -1 is unlimited.
func ParseUlimit(v string) (Ulimit, error) {
	name, vals, ok := strings.Cut(v, "=")
	if !ok {
		return Ulimit{}, flagErr("--ulimit", v, "want name=soft[:hard]")
	}
	if _, ok := ulimitResources[name]; !ok {
		return Ulimit{}, flagErr("--ulimit", v, "unknown ulimit %q", name)
	}
	softS, hardS, hasHard := strings.Cut(vals, ":")
	soft, err := parseLimit(softS)
	if err != nil {
		return Ulimit{}, flagErr("--ulimit", v, "soft limit: %v", err)
	}
	hard := soft
	if hasHard {
		if hard, err = parseLimit(hardS); err != nil {
			return Ulimit{}, flagErr("--ulimit", v, "hard limit: %v", err)
		}
	}
	if soft > hard {
		return Ulimit{}, flagErr("--ulimit", v, "soft limit must be less than or equal to hard limit")
	}
	return Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

func parseLimit(s string) (uint64, error) {
	if s == "-1" {
		return unix.RLIM_INFINITY, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or -1", s)
	}
	return n, nil
}

func formatLimit(n uint64) string {
	if n == math.MaxUint64 {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}

// WithUlimits sets rlimits (--ulimit), replacing a default of the same
// resource. A hard limit above the host's is refused unless the engine
// may raise it.
func WithUlimits(uls ...Ulimit) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		for _, u := range uls {
			v := fmt.Sprintf("%s=%s:%s", u.Name, formatLimit(u.Soft), formatLimit(u.Hard))
			if u.Soft == u.Hard {
				v = fmt.Sprintf("%s=%s", u.Name, formatLimit(u.Soft))
			}
			res, ok := ulimitResources[u.Name]
			if !ok {
				return flagErr("--ulimit", v, "unknown ulimit %q", u.Name)
			}
			if u.Soft > u.Hard {
				return flagErr("--ulimit", v, "soft limit must be less than or equal to hard limit")
			}
			host, err := hostRlimit(res)
			if err != nil {
				return fmt.Errorf("--ulimit %s: read the host's limit: %w", v, err)
			}
			if u.Hard > host.Max && !canRaiseRlimits() {
				return flagErr("--ulimit", v, "above this host's hard limit %s", formatLimit(host.Max))
			}
			typ := "RLIMIT_" + strings.ToUpper(u.Name)
			rl := specs.POSIXRlimit{Type: typ, Soft: u.Soft, Hard: u.Hard}
			replaced := false
			for i := range s.Process.Rlimits {
				if s.Process.Rlimits[i].Type == typ {
					s.Process.Rlimits[i], replaced = rl, true
				}
			}
			if !replaced {
				s.Process.Rlimits = append(s.Process.Rlimits, rl)
			}
		}
		return nil
	}
}
