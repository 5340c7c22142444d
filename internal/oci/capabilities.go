package oci

import (
	"context"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/caps"
)

// DefaultCapabilities is Docker's default capability set, in Docker's
// order.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// capBoundingRead is prctl(PR_CAPBSET_READ); a variable for tests.
var capBoundingRead = func(c int) bool {
	r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
	return err == nil && r == 1
}

// AllCapabilities are the capabilities a privileged container gets:
// every capability the running kernel knows that the engine itself still
// has in its bounding set. (Docker lists every capability of the kernel;
// one the engine was started without cannot be handed on, and asking for
// it would make the runtime's capset fail.)
func AllCapabilities() []string {
	var out []string
	for c := 0; c <= caps.Last(); c++ {
		if capBoundingRead(c) {
			out = append(out, caps.Name(c))
		}
	}
	return out
}

// normalizeCap turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN", keeps "ALL", and rejects a name no kernel knows.
func normalizeCap(flag, name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, err := caps.Parse(n); err != nil {
		return "", flagErr(flag, name, "unknown capability")
	}
	return n, nil
}

// WithCapAdd adds capabilities (--cap-add), with or without the CAP_
// prefix, in any case; "ALL" adds every capability.
func WithCapAdd(names ...string) SpecOpt {
	return capOpt("--cap-add", names, true)
}

// WithCapDrop drops capabilities (--cap-drop); "ALL" drops every
// capability not also given to --cap-add.
func WithCapDrop(names ...string) SpecOpt {
	return capOpt("--cap-drop", names, false)
}

func capOpt(flag string, names []string, add bool) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		var list []string
		for _, name := range names {
			n, err := normalizeCap(flag, name)
			if err != nil {
				return err
			}
			list = append(list, n)
		}
		if g := fromContext(ctx); g != nil {
			g.capsSet = true
			if add {
				g.capAdd = append(g.capAdd, list...)
			} else {
				g.capDrop = append(g.capDrop, list...)
			}
			return nil
		}
		// Outside Generate: change the spec's set as it is now.
		var cur []string
		if s.Process.Capabilities != nil {
			cur = s.Process.Capabilities.Bounding
		}
		if add {
			setCaps(s, tweakCaps(cur, list, nil))
		} else {
			setCaps(s, tweakCaps(cur, nil, list))
		}
		return nil
	}
}

// tweakCaps is Docker's combination of --cap-add and --cap-drop over a
// base set: ALL in adds gives every capability but the drops; ALL in
// drops gives only the adds; otherwise the base, less drops, plus adds.
func tweakCaps(base, adds, drops []string) []string {
	var out []string
	switch {
	case slices.Contains(adds, "ALL"):
		for _, c := range AllCapabilities() {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
	case slices.Contains(drops, "ALL"):
		for _, c := range adds {
			if c != "ALL" {
				out = append(out, c)
			}
		}
	default:
		for _, c := range base {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
		out = append(out, adds...)
	}
	// Keep the first of duplicates.
	seen := map[string]bool{}
	uniq := out[:0]
	for _, c := range out {
		if !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	return uniq
}

// setCaps gives the process caps as its bounding, effective and
// permitted sets, as Docker does (no inheritable, no ambient).
func setCaps(s *specs.Spec, list []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  list,
		Effective: append([]string(nil), list...),
		Permitted: append([]string(nil), list...),
	}
}

func (g *generation) applyCaps(s *specs.Spec) error {
	if g.privileged {
		// --privileged gets everything; Docker ignores --cap-add and
		// --cap-drop beside it.
		setCaps(s, AllCapabilities())
		return nil
	}
	if !g.capsSet {
		return nil
	}
	var base []string
	if s.Process.Capabilities != nil {
		base = s.Process.Capabilities.Bounding
	}
	setCaps(s, tweakCaps(base, g.capAdd, g.capDrop))
	return nil
}
