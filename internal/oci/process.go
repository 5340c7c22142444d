package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// AnnotationStopSignal carries the image's stop signal to the engine (as
// containerd's io.containerd.image.config.stop-signal); the runtime does
// not read it.
const AnnotationStopSignal = "dev.capsa.image.config.stop-signal"

// WithImageConfig applies an image's config: its entrypoint and command
// as the process, its environment over the defaults, its working
// directory, user and stop signal. Flags applied after it override it.
func WithImageConfig(c ocispec.ImageConfig) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		args := append(append([]string(nil), c.Entrypoint...), c.Cmd...)
		if len(args) > 0 {
			s.Process.Args = args
		}
		if g := fromContext(ctx); g != nil {
			g.imageEntrypoint, g.imageCmd = c.Entrypoint, c.Cmd
		}
		s.Process.Env = mergeEnv(s.Process.Env, c.Env)
		if c.WorkingDir != "" {
			if err := WithWorkdir(c.WorkingDir)(ctx, s); err != nil {
				return err
			}
		}
		if c.User != "" {
			if err := WithUser(c.User)(ctx, s); err != nil {
				return err
			}
		}
		if c.StopSignal != "" {
			if _, err := ParseSignal(c.StopSignal); err != nil {
				return flagErr("image StopSignal", c.StopSignal, "%v", err)
			}
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[AnnotationStopSignal] = c.StopSignal
		}
		return nil
	}
}

// ParseSignal parses a signal as Docker's --stop-signal does: a number,
// or a name with or without SIG ("TERM", "SIGKILL", "sigint").
func ParseSignal(v string) (unix.Signal, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.Invalid("invalid signal number " + v)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.Invalid("invalid signal " + strconv.Quote(v))
}

// WithProcessArgs sets the whole command line, replacing the image's
// entrypoint and command and any WithCommand or WithEntrypoint.
func WithProcessArgs(args ...string) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if len(args) == 0 {
			return flagErr("command", "", "no command given")
		}
		s.Process.Args = append([]string(nil), args...)
		if g := fromContext(ctx); g != nil {
			g.argsExplicit = true
		}
		return nil
	}
}

// WithCommand replaces the image's CMD with the arguments after the image
// name in `capsa run IMAGE CMD...`; the image's entrypoint stays in front.
func WithCommand(cmd ...string) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		c := append([]string(nil), cmd...)
		if g := fromContext(ctx); g != nil {
			g.cmd = &c
			return nil
		}
		s.Process.Args = c
		return nil
	}
}

// WithEntrypoint replaces the image's entrypoint (--entrypoint); as in
// Docker it also drops the image's CMD, and no arguments clear the
// entrypoint.
func WithEntrypoint(ep ...string) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		e := append([]string(nil), ep...)
		if g := fromContext(ctx); g != nil {
			g.entrypoint = &e
			return nil
		}
		s.Process.Args = e
		return nil
	}
}

// composeArgs builds the command line from the image's entrypoint and
// cmd and the run's overrides, as Docker does.
func (g *generation) composeArgs(s *specs.Spec) {
	if g.argsExplicit || (g.cmd == nil && g.entrypoint == nil) {
		return
	}
	ep, cmd := g.imageEntrypoint, g.imageCmd
	if g.entrypoint != nil {
		ep, cmd = *g.entrypoint, nil
	}
	if g.cmd != nil {
		cmd = *g.cmd
	}
	s.Process.Args = append(append([]string(nil), ep...), cmd...)
}

// WithEnv merges env (-e) into the process's environment as Docker does:
// a variable already set is replaced in place, a new one is appended, and
// a bare "NAME" (no "=") removes NAME.
func WithEnv(env []string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		for _, e := range env {
			if e == "" || strings.HasPrefix(e, "=") {
				return flagErr("--env", e, "variable name is empty")
			}
		}
		s.Process.Env = mergeEnv(s.Process.Env, env)
		return nil
	}
}

// mergeEnv returns base with over merged in, later wins.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	index := map[string]int{}
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		index[k] = i
	}
	for _, e := range over {
		k, _, hasValue := strings.Cut(e, "=")
		i, ok := index[k]
		switch {
		case !hasValue:
			if ok {
				out = append(out[:i], out[i+1:]...)
				index = map[string]int{}
				for j, e := range out {
					k, _, _ := strings.Cut(e, "=")
					index[k] = j
				}
			}
		case ok:
			out[i] = e
		default:
			index[k] = len(out)
			out = append(out, e)
		}
	}
	return out
}

// setEnvDefault sets NAME=value unless NAME is already set.
func setEnvDefault(s *specs.Spec, name, value string) {
	for _, e := range s.Process.Env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			return
		}
	}
	s.Process.Env = append(s.Process.Env, name+"="+value)
}

// WithWorkdir sets the working directory (-w), an absolute path.
func WithWorkdir(dir string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if !filepath.IsAbs(dir) {
			return flagErr("--workdir", dir, "the working directory is invalid, it needs to be an absolute path")
		}
		s.Process.Cwd = filepath.Clean(dir)
		return nil
	}
}

// WithHostname sets the container's hostname (-h) and, unless the
// environment sets it, HOSTNAME, as Docker does.
func WithHostname(name string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if name == "" || len(name) > 64 || strings.ContainsAny(name, "/ \t\n\x00") {
			return flagErr("--hostname", name, "invalid hostname (1 to 64 characters, no spaces or slashes)")
		}
		s.Hostname = name
		setEnvDefault(s, "HOSTNAME", name)
		return nil
	}
}

// WithTTY gives the process a terminal (-t) and, unless the environment
// sets it, TERM=xterm, as Docker does.
func WithTTY(on bool) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		s.Process.Terminal = on
		if on {
			setEnvDefault(s, "TERM", "xterm")
		}
		return nil
	}
}

// InitPath is where WithInit binds the init inside the container.
const InitPath = "/sbin/capsa-init"

// initCandidates are the host binaries WithInit("") looks for: a tiny
// init that forwards signals and reaps zombies. capsa has none of its own
// yet.
var initCandidates = []string{"capsa-init", "docker-init", "tini-static", "tini"}

// WithInit runs a tiny init as PID 1 (--init): the host binary initBin
// (or the first of capsa-init, docker-init, tini-static and tini found in
// PATH when empty) is bound read-only at /sbin/capsa-init and the command
// runs under it, after "--".
//
// TODO(init): ship capsa's own static init and default to it.
func WithInit(initBin string) SpecOpt {
	return func(ctx context.Context, s *specs.Spec) error {
		if initBin == "" {
			for _, c := range initCandidates {
				if p, err := exec.LookPath(c); err == nil {
					initBin = p
					break
				}
			}
			if initBin == "" {
				return errdefs.NotImplemented("--init: no init binary on this host (looked for " + strings.Join(initCandidates, ", ") + " in PATH)")
			}
		}
		st, err := os.Stat(initBin)
		if err != nil || !st.Mode().IsRegular() {
			return flagErr("--init", initBin, "not an executable file")
		}
		abs, err := filepath.Abs(initBin)
		if err != nil {
			return flagErr("--init", initBin, "%v", err)
		}
		setMount(s, specs.Mount{Destination: InitPath, Type: "bind", Source: abs, Options: []string{"bind", "ro"}})
		// The command may still change: wrap it once it is final.
		return later(ctx, s, func(_ context.Context, s *specs.Spec) error {
			s.Process.Args = append([]string{InitPath, "--"}, s.Process.Args...)
			return nil
		})
	}
}
