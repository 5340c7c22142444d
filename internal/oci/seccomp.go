package oci

import (
	"context"
	"encoding/json"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// WithSeccompUnconfined runs the container without a seccomp filter
// (--security-opt seccomp=unconfined).
func WithSeccompUnconfined() SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if g := fromContext(ctx); g != nil {
			g.seccomp, g.seccompProfile = seccompUnconfined, nil
			return nil
		}
		s.Linux.Seccomp = nil
		return nil
	}
}

// WithSeccompProfile uses a seccomp profile in Docker's JSON format
// (--security-opt seccomp=FILE): its architecture map is resolved for
// this host, and its rules conditional on capabilities, architectures and
// kernel versions are kept or dropped for the container's final
// capabilities. The profile "unconfined" is WithSeccompUnconfined.
func WithSeccompProfile(profile []byte) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if strings.TrimSpace(string(profile)) == "unconfined" {
			return WithSeccompUnconfined()(ctx, s)
		}
		// Decode now for an early error; resolve once the capabilities
		// are final.
		var p mobyseccomp.Seccomp
		if err := json.Unmarshal(profile, &p); err != nil {
			return errdefs.Invalid("--security-opt seccomp: decode profile: " + err.Error())
		}
		if g := fromContext(ctx); g != nil {
			g.seccomp, g.seccompProfile = seccompProfile, profile
			return nil
		}
		sc, err := loadSeccomp(profile, s)
		if err != nil {
			return err
		}
		s.Linux.Seccomp = sc
		return nil
	}
}

// DefaultSeccomp is Docker's default seccomp profile resolved for the
// capabilities of s's process and for this host's architecture and
// kernel.
func DefaultSeccomp(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	ensureCaps(s)
	sc, err := mobyseccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, errdefs.Invalid("default seccomp profile: " + err.Error())
	}
	return sc, nil
}

func loadSeccomp(profile []byte, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	ensureCaps(s)
	sc, err := mobyseccomp.LoadProfile(string(profile), s)
	if err != nil {
		return nil, errdefs.Invalid("--security-opt seccomp: " + err.Error())
	}
	return sc, nil
}

// ensureCaps gives s a capabilities object: the profile module reads the
// bounding set through it.
func ensureCaps(s *specs.Spec) {
	if s.Process.Capabilities == nil {
		s.Process.Capabilities = &specs.LinuxCapabilities{}
	}
}

// applySeccomp sets the filter once everything else is final. Docker
// runs a privileged container unconfined whatever profile was asked for.
func (g *generation) applySeccomp(s *specs.Spec) error {
	if g.privileged || g.seccomp == seccompUnconfined {
		s.Linux.Seccomp = nil
		return nil
	}
	var (
		sc  *specs.LinuxSeccomp
		err error
	)
	if g.seccomp == seccompProfile {
		sc, err = loadSeccomp(g.seccompProfile, s)
	} else {
		sc, err = DefaultSeccomp(s)
	}
	if err != nil {
		return err
	}
	s.Linux.Seccomp = sc
	return nil
}
