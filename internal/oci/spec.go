// Package oci builds the OCI runtime spec (config.json) that the engine
// hands to capsa-runtime for `capsa run IMAGE`.
//
// A spec is composed from small SpecOpt functions, one per engine flag,
// applied in order to Docker's default container:
//
//	s, err := oci.Generate(ctx,
//		oci.WithRootfs(dir, false),
//		oci.WithImageConfig(img.Config),
//		oci.WithEnv([]string{"A=1"}),
//		oci.WithMemoryLimit(256<<20),
//		oci.WithCapAdd("NET_ADMIN"),
//	)
//
// Some flags only make sense against the finished container: Docker
// resolves --cap-add/--cap-drop together (ALL in one changes the meaning
// of the other), checks --memory-swap against --memory, looks a --user up
// in the rootfs that --rootfs names, and resolves the seccomp profile's
// capability-conditional rules against the final capabilities. Inside
// Generate those options record what they were given and do their work
// after every option has run, so the result does not depend on the order
// of the options; applied to a spec directly, outside Generate, they act at
// once on the spec as it is.
//
// Errors name the engine flag and the value given, on one line:
// `--memory "4XB": invalid suffix "xb"`.
package oci

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// SpecOpt changes a spec under construction.
type SpecOpt func(ctx context.Context, s *specs.Spec) error

// Version is the ociVersion of generated specs: "1.0.2-dev", as dockerd
// writes, and not the newest version capsa-runtime reads (1.2.1): peer
// runtimes check it (crun 1.8 refuses anything but 1.0.x with "unknown
// version specified", so --runtime crun failed), and every field the
// engine sets is read by runc 1.1 and crun 1.8 whatever it says.
const Version = "1.0.2-dev"

// DefaultPathEnv is the PATH a container gets when its image sets none.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// seccompMode says where the container's seccomp filter comes from.
type seccompMode int

const (
	seccompDefault seccompMode = iota
	seccompUnconfined
	seccompProfile
)

// generation is what the options of one Generate call share: the work
// they leave for after all options have run. It lives in the context
// Generate passes to the options.
type generation struct {
	late []SpecOpt // run in order after all options

	capAdd, capDrop []string // normalized names, "ALL" kept as is
	capsSet         bool     // some --cap-add/--cap-drop was given
	privileged      bool

	seccomp        seccompMode
	seccompProfile []byte

	// The command: the image's entrypoint and cmd, the run's overrides
	// (nil: not given), and whether WithProcessArgs set it outright.
	imageEntrypoint, imageCmd []string
	entrypoint, cmd           *[]string
	argsExplicit              bool
}

type genKey struct{}

func fromContext(ctx context.Context) *generation {
	g, _ := ctx.Value(genKey{}).(*generation)
	return g
}

// later runs fn after all options inside Generate, or now outside it.
func later(ctx context.Context, s *specs.Spec, fn SpecOpt) error {
	if g := fromContext(ctx); g != nil {
		g.late = append(g.late, fn)
		return nil
	}
	return fn(ctx, s)
}

// flagErr is an invalid-argument error naming an engine flag and value.
func flagErr(flag, value, format string, args ...any) error {
	return errdefs.Invalid(fmt.Sprintf("%s %q: %s", flag, value, fmt.Sprintf(format, args...)))
}

// Generate returns Docker's default container spec with opts applied.
func Generate(ctx context.Context, opts ...SpecOpt) (*specs.Spec, error) {
	g := &generation{}
	ctx = context.WithValue(ctx, genKey{}, g)
	s, err := defaultSpec()
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(ctx, s); err != nil {
			return nil, err
		}
	}
	// Capabilities first: the late options below (seccomp above all)
	// depend on the final set.
	if err := g.applyCaps(s); err != nil {
		return nil, err
	}
	g.composeArgs(s)
	for _, fn := range g.late {
		if err := fn(ctx, s); err != nil {
			return nil, err
		}
	}
	SortMounts(s)
	if len(s.Process.Args) == 0 {
		return nil, errdefs.Invalid("no command specified: the image has none and none was given")
	}
	if err := checkMemory(s); err != nil {
		return nil, err
	}
	if err := g.applySeccomp(s); err != nil {
		return nil, err
	}
	return s, nil
}

// defaultSpec is the container `docker run IMAGE` makes before its flags:
// moby's oci.DefaultLinuxSpec plus what the daemon adds to every
// container (capabilities, device rules, rlimits). The seccomp profile
// is added last, by Generate.
func defaultSpec() (*specs.Spec, error) {
	rl, err := defaultRlimits()
	if err != nil {
		return nil, err
	}
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version: Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Terminal: false,
			Cwd:      "/",
			Env:      []string{"PATH=" + DefaultPathEnv},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: append([]string(nil), caps...),
				Permitted: append([]string(nil), caps...),
			},
			Rlimits:         rl,
			NoNewPrivileges: false,
		},
		Mounts: defaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: defaultDeviceRules(),
			},
			MaskedPaths:   DefaultMaskedPaths(),
			ReadonlyPaths: DefaultReadonlyPaths(),
		},
	}, nil
}

// DefaultMaskedPaths are the paths Docker hides from a container: a
// file is covered with /dev/null, a directory with an empty read-only
// tmpfs.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths are the paths Docker remounts read-only.
func DefaultReadonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}

// defaultDeviceRules are Docker's device cgroup rules: deny everything,
// then allow the nodes every container has. (capsa-runtime appends
// runc's own defaults after these: mknod, full, ptmx, pts, tun.)
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	dev := func(allow bool, major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, 1, 5),     // /dev/zero
		dev(true, 1, 3),     // /dev/null
		dev(true, 1, 9),     // /dev/urandom
		dev(true, 1, 8),     // /dev/random
		dev(true, 5, 0),     // /dev/tty
		dev(true, 5, 1),     // /dev/console
		dev(false, 10, 229), // /dev/fuse: explicitly denied
	}
}

// WithCgroupsPath sets linux.cgroupsPath; "" lets the runtime choose.
func WithCgroupsPath(p string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		s.Linux.CgroupsPath = p
		return nil
	}
}

// WithLabels adds the container's labels to the spec's annotations.
func WithLabels(labels map[string]string) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		if len(labels) == 0 {
			return nil
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range labels {
			if k == "" {
				return flagErr("--label", "="+v, "empty label name")
			}
			s.Annotations[k] = v
		}
		return nil
	}
}

// WithNoNewPrivileges sets process.noNewPrivileges
// (--security-opt no-new-privileges); Docker's default is false.
func WithNoNewPrivileges(on bool) SpecOpt {
	return func(_ context.Context, s *specs.Spec) error {
		s.Process.NoNewPrivileges = on
		return nil
	}
}
