package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/caps"
	"github.com/capsa-dev/capsa/internal/errdefs"
	"github.com/capsa-dev/capsa/internal/runtime/config"
	capsaseccomp "github.com/capsa-dev/capsa/internal/seccomp"
)

// fakeHost pins the host facts the package reads, for the test.
func fakeHost(t *testing.T, nofileHard uint64, canRaise bool) {
	t.Helper()
	oldRl, oldRaise, oldCPU, oldOnline := hostRlimit, canRaiseRlimits, numCPU, onlineCPUs
	hostRlimit = func(res int) (unix.Rlimit, error) {
		if res == unix.RLIMIT_NOFILE {
			return unix.Rlimit{Cur: nofileHard, Max: nofileHard}, nil
		}
		return unix.Rlimit{Cur: 8192, Max: 65536}, nil
	}
	canRaiseRlimits = func() bool { return canRaise }
	numCPU = func() int { return 2 }
	onlineCPUs = func() (string, error) { return "0-1", nil }
	t.Cleanup(func() { hostRlimit, canRaiseRlimits, numCPU, onlineCPUs = oldRl, oldRaise, oldCPU, oldOnline })
}

// generate is Generate with a command first, as every run has one.
func generate(opts ...SpecOpt) (*specs.Spec, error) {
	return Generate(context.Background(), append([]SpecOpt{WithProcessArgs("sh")}, opts...)...)
}

func gen(t *testing.T, opts ...SpecOpt) *specs.Spec {
	t.Helper()
	s, err := generate(opts...)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func TestGenerateDefaults(t *testing.T) {
	fakeHost(t, 20000, false)
	s := gen(t)
	if s.Version != Version || s.Process.Terminal || s.Process.Cwd != "/" || s.Process.NoNewPrivileges {
		t.Errorf("process: got version %q terminal %v cwd %q nnp %v", s.Version, s.Process.Terminal, s.Process.Cwd, s.Process.NoNewPrivileges)
	}
	if got, want := s.Process.Env, []string{"PATH=" + DefaultPathEnv}; !reflect.DeepEqual(got, want) {
		t.Errorf("env: got %q, want %q", got, want)
	}
	c := s.Process.Capabilities
	if !reflect.DeepEqual(c.Bounding, DefaultCapabilities()) || !reflect.DeepEqual(c.Effective, c.Bounding) ||
		!reflect.DeepEqual(c.Permitted, c.Bounding) || len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("capabilities: got %+v", c)
	}
	var mask uint64
	for _, n := range c.Bounding {
		i, err := caps.Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		mask |= 1 << i
	}
	if mask != 0xa80425fb {
		t.Errorf("capability mask: got %#x, want 0xa80425fb", mask)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	if want := []specs.LinuxNamespaceType{"pid", "network", "ipc", "uts", "mount", "cgroup"}; !reflect.DeepEqual(ns, want) {
		t.Errorf("namespaces: got %v, want %v", ns, want)
	}
	mounts := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m
	}
	for dst, opt := range map[string]string{
		"/proc": "nosuid", "/dev": "mode=755", "/dev/pts": "gid=5", "/dev/shm": "size=67108864",
		"/dev/mqueue": "nodev", "/sys": "ro", "/sys/fs/cgroup": "ro",
	} {
		if !slices.Contains(mounts[dst].Options, opt) {
			t.Errorf("mount %s: got options %v, want %s among them", dst, mounts[dst].Options, opt)
		}
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.MaskedPaths, "/proc/timer_list") ||
		!slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v, readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	d := s.Linux.Resources.Devices
	if len(d) < 2 || d[0].Allow || d[0].Access != "rwm" || d[0].Type != "" || !d[1].Allow {
		t.Errorf("device rules: got %+v, want deny all first, then allows", d)
	}
	if got, want := s.Process.Rlimits, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 20000}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rlimits: got %+v, want %+v", got, want)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatalf("seccomp: got %+v, want Docker's default profile", s.Linux.Seccomp)
	}
	if runtime.GOARCH == "amd64" {
		want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
		if !reflect.DeepEqual(s.Linux.Seccomp.Architectures, want) {
			t.Errorf("seccomp architectures: got %v, want %v", s.Linux.Seccomp.Architectures, want)
		}
	}
}

func TestDefaultRlimitsHost(t *testing.T) {
	for _, tc := range []struct {
		hard       uint64
		soft, want uint64
	}{
		{20000, 1024, 20000},
		{512, 512, 512},
		{unix.RLIM_INFINITY, 1024, 1048576},
		{2 << 20, 1024, 1048576},
	} {
		fakeHost(t, tc.hard, false)
		rl, err := defaultRlimits()
		if err != nil {
			t.Fatal(err)
		}
		if rl[0].Soft != tc.soft || rl[0].Hard != tc.want {
			t.Errorf("host hard %d: got %d:%d, want %d:%d", tc.hard, rl[0].Soft, rl[0].Hard, tc.soft, tc.want)
		}
	}
}

// allowed reports whether seccomp config sc has an allow rule for name
// without argument conditions.
func allowed(sc *specs.LinuxSeccomp, name string) bool {
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func TestSeccomp(t *testing.T) {
	fakeHost(t, 20000, false)
	profile := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
		{"names":["read"],"action":"SCMP_ACT_ALLOW"},
		{"names":["unshare"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`)
	for _, tc := range []struct {
		name        string
		opts        []SpecOpt
		nilFilter   bool
		unshare     bool
		defaultProf bool
	}{
		{name: "default", defaultProf: true},
		{name: "cap-add SYS_ADMIN resolves the default profile", opts: []SpecOpt{WithCapAdd("SYS_ADMIN")}, unshare: true, defaultProf: true},
		{name: "unconfined", opts: []SpecOpt{WithSeccompUnconfined()}, nilFilter: true},
		{name: "profile", opts: []SpecOpt{WithSeccompProfile(profile)}},
		{name: "profile then cap-add", opts: []SpecOpt{WithSeccompProfile(profile), WithCapAdd("CAP_SYS_ADMIN")}, unshare: true},
		{name: "cap-add then profile", opts: []SpecOpt{WithCapAdd("sys_admin"), WithSeccompProfile(profile)}, unshare: true},
		{name: "profile unconfined", opts: []SpecOpt{WithSeccompProfile([]byte("unconfined"))}, nilFilter: true},
		{name: "privileged beats a profile", opts: []SpecOpt{WithSeccompProfile(profile), WithPrivileged()}, nilFilter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gen(t, tc.opts...)
			sc := s.Linux.Seccomp
			if (sc == nil) != tc.nilFilter {
				t.Fatalf("seccomp: got %v, want nil %v", sc, tc.nilFilter)
			}
			if sc == nil {
				return
			}
			if got := allowed(sc, "unshare"); got != tc.unshare {
				t.Errorf("unshare allowed: got %v, want %v", got, tc.unshare)
			}
			if got := allowed(sc, "clock_gettime"); got != tc.defaultProf {
				t.Errorf("default profile (clock_gettime allowed): got %v, want %v", got, tc.defaultProf)
			}
		})
	}
	if _, err := generate(WithSeccompProfile([]byte("{bad"))); err == nil || !strings.HasPrefix(err.Error(), "--security-opt seccomp: ") {
		t.Errorf("bad profile: got %v", err)
	}
}

// TestSeccompCompiles checks that capsa-runtime's filter compiler takes
// the resolved profiles.
func TestSeccompCompiles(t *testing.T) {
	fakeHost(t, 20000, false)
	for _, opts := range [][]SpecOpt{nil, {WithCapAdd("ALL")}, {WithCapDrop("ALL")}} {
		s := gen(t, opts...)
		if _, err := capsaseccomp.Compile(s.Linux.Seccomp); err != nil {
			t.Errorf("compile the profile for %v: %v", s.Process.Capabilities.Bounding, err)
		}
	}
}

func TestCapabilities(t *testing.T) {
	fakeHost(t, 20000, false)
	def := DefaultCapabilities()
	without := func(drop ...string) []string {
		var out []string
		for _, c := range def {
			if !slices.Contains(drop, c) {
				out = append(out, c)
			}
		}
		return out
	}
	all := AllCapabilities()
	for _, tc := range []struct {
		name string
		opts []SpecOpt
		want []string
	}{
		{"add", []SpecOpt{WithCapAdd("NET_ADMIN")}, append(slices.Clone(def), "CAP_NET_ADMIN")},
		{"add existing", []SpecOpt{WithCapAdd("cap_chown")}, def},
		{"drop", []SpecOpt{WithCapDrop("CHOWN", "CAP_KILL")}, without("CAP_CHOWN", "CAP_KILL")},
		{"drop ALL add one", []SpecOpt{WithCapAdd("NET_BIND_SERVICE"), WithCapDrop("ALL")}, []string{"CAP_NET_BIND_SERVICE"}},
		{"drop ALL after add (order free)", []SpecOpt{WithCapDrop("all"), WithCapAdd("NET_BIND_SERVICE")}, []string{"CAP_NET_BIND_SERVICE"}},
		{"add ALL drop one", []SpecOpt{WithCapAdd("ALL"), WithCapDrop("SYS_ADMIN")}, slices.DeleteFunc(slices.Clone(all), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{"privileged ignores drop", []SpecOpt{WithPrivileged(), WithCapDrop("CHOWN")}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gen(t, tc.opts...)
			c := s.Process.Capabilities
			if !reflect.DeepEqual(c.Bounding, tc.want) || !reflect.DeepEqual(c.Effective, tc.want) || !reflect.DeepEqual(c.Permitted, tc.want) {
				t.Errorf("got %+v, want all three %v", c, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		opt  SpecOpt
		want string
	}{
		{WithCapAdd("CAP_BOGUS"), `--cap-add "CAP_BOGUS": unknown capability`},
		{WithCapDrop("bogus"), `--cap-drop "bogus": unknown capability`},
	} {
		_, err := generate(tc.opt)
		if err == nil || err.Error() != tc.want || !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	// Outside Generate the options act at once.
	s := gen(t)
	if err := WithCapDrop("ALL")(context.Background(), s); err != nil || len(s.Process.Capabilities.Bounding) != 0 {
		t.Errorf("direct drop ALL: got %v, %v", s.Process.Capabilities.Bounding, err)
	}
}

func TestPrivileged(t *testing.T) {
	fakeHost(t, 20000, false)
	s := gen(t, WithPrivileged())
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("masked %v readonly %v, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if got := s.Linux.Resources.Devices; len(got) != 1 || !got[0].Allow || got[0].Access != "rwm" {
		t.Errorf("device rules: got %+v, want allow all", got)
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && (slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rw")) {
			t.Errorf("%s: options %v, want rw", m.Destination, m.Options)
		}
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" }) {
		t.Errorf("host devices: /dev/null missing from %d devices", len(s.Linux.Devices))
	}
	if s.Linux.Seccomp != nil {
		t.Errorf("seccomp: got a filter, want none")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"32", 32, ""},
		{"32b", 32, ""},
		{"32B", 32, ""},
		{"512k", 512 << 10, ""},
		{"512K", 512 << 10, ""},
		{"4m", 4 << 20, ""},
		{"4MB", 4 << 20, ""},
		{"4MiB", 4 << 20, ""},
		{"4mib", 4 << 20, ""},
		{"4 m", 4 << 20, ""},
		{"1g", 1 << 30, ""},
		{"1.5g", 3 << 29, ""},
		{"2t", 2 << 40, ""},
		{"1p", 1 << 50, ""},
		{"4XB", 0, `invalid suffix "xb"`},
		{"4mb2", 0, `invalid size "4mb2"`},
		{"4bb", 0, `invalid suffix "bb"`},
		{"4mbb", 0, `invalid suffix "mbb"`},
		{"4kibb", 0, `invalid suffix "kibb"`},
		{"-1", 0, `invalid size "-1"`},
		{"", 0, `invalid size ""`},
		{"m", 0, `invalid size "m"`},
		{"1..2m", 0, `invalid size "1..2m"`},
		{"99999999999p", 0, `size "99999999999p" is too large`},
	} {
		got, err := ParseSize(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseSize(%q): got %d, %q; want %d, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}
	if _, err := ParseMemory("4XB"); err == nil || err.Error() != `--memory "4XB": invalid suffix "xb"` {
		t.Errorf("ParseMemory: got %v", err)
	}
	if n, err := ParseMemorySwap("-1"); n != -1 || err != nil {
		t.Errorf("ParseMemorySwap(-1): got %d, %v", n, err)
	}
	if _, err := ParseMemorySwap("1q"); err == nil || !strings.HasPrefix(err.Error(), `--memory-swap "1q": `) {
		t.Errorf("ParseMemorySwap(1q): got %v", err)
	}
}

func p64(v int64) *int64 { return &v }

func TestMemory(t *testing.T) {
	fakeHost(t, 20000, false)
	for _, tc := range []struct {
		name        string
		opts        []SpecOpt
		limit, swap *int64
		err         string
	}{
		{"memory only: swap twice", []SpecOpt{WithMemoryLimit(64 << 20)}, p64(64 << 20), p64(128 << 20), ""},
		{"swap then memory", []SpecOpt{WithMemorySwap(100 << 20), WithMemoryLimit(64 << 20)}, p64(64 << 20), p64(100 << 20), ""},
		{"memory then swap", []SpecOpt{WithMemoryLimit(64 << 20), WithMemorySwap(100 << 20)}, p64(64 << 20), p64(100 << 20), ""},
		{"unlimited swap", []SpecOpt{WithMemoryLimit(64 << 20), WithMemorySwap(-1)}, p64(64 << 20), p64(-1), ""},
		{"swap equal memory", []SpecOpt{WithMemoryLimit(64 << 20), WithMemorySwap(64 << 20)}, p64(64 << 20), p64(64 << 20), ""},
		{"zero is unset", []SpecOpt{WithMemoryLimit(0), WithMemorySwap(0)}, nil, nil, ""},
		{"too small", []SpecOpt{WithMemoryLimit(4 << 20)}, nil, nil, `--memory "4194304": minimum memory limit allowed is 6MB`},
		{"swap below memory", []SpecOpt{WithMemoryLimit(64 << 20), WithMemorySwap(32 << 20)}, nil, nil, `--memory-swap "33554432": minimum memoryswap limit should be larger than memory limit 67108864`},
		{"swap alone", []SpecOpt{WithMemorySwap(32 << 20)}, nil, nil, `--memory-swap "33554432": set without --memory: you should always set the memory limit when using memoryswap limit`},
		{"bad swap", []SpecOpt{WithMemorySwap(-2)}, nil, nil, `--memory-swap "-2": must be a size or -1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := generate(tc.opts...)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var limit, swap *int64
			if m := s.Linux.Resources.Memory; m != nil {
				limit, swap = m.Limit, m.Swap
			}
			if !reflect.DeepEqual(limit, tc.limit) || !reflect.DeepEqual(swap, tc.swap) {
				t.Errorf("got limit %v swap %v, want %v %v", deref(limit), deref(swap), deref(tc.limit), deref(tc.swap))
			}
		})
	}
	// Outside Generate, the default swap is set at once.
	s := gen(t)
	if err := WithMemoryLimit(10<<20)(context.Background(), s); err != nil || *s.Linux.Resources.Memory.Swap != 20<<20 {
		t.Errorf("direct: got %v", err)
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCPU(t *testing.T) {
	fakeHost(t, 20000, false)
	u := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		name string
		opt  SpecOpt
		want specs.LinuxCPU
		err  string
	}{
		{"cpus 1.5", WithCPUs(1.5), specs.LinuxCPU{Quota: p64(150000), Period: u(100000)}, ""},
		{"cpus 0.01", WithCPUs(0.01), specs.LinuxCPU{Quota: p64(1000), Period: u(100000)}, ""},
		{"cpus 2", WithCPUs(2), specs.LinuxCPU{Quota: p64(200000), Period: u(100000)}, ""},
		{"cpus too many", WithCPUs(3), specs.LinuxCPU{}, `--cpus "3": range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available`},
		{"cpus too few", WithCPUs(0.001), specs.LinuxCPU{}, `--cpus "0.001": range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available`},
		{"cpus negative", WithCPUs(-1), specs.LinuxCPU{}, `--cpus "-1": range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available`},
		{"shares", WithCPUShares(512), specs.LinuxCPU{Shares: u(512)}, ""},
		{"shares clamped low", WithCPUShares(1), specs.LinuxCPU{Shares: u(2)}, ""},
		{"shares clamped high", WithCPUShares(1 << 20), specs.LinuxCPU{Shares: u(262144)}, ""},
		{"shares negative", WithCPUShares(-5), specs.LinuxCPU{}, `--cpu-shares "-5": must be a positive integer`},
		{"cpuset", WithCpusetCpus("0-1"), specs.LinuxCPU{Cpus: "0-1"}, ""},
		{"cpuset list", WithCpusetCpus("1,0"), specs.LinuxCPU{Cpus: "1,0"}, ""},
		{"cpuset offline", WithCpusetCpus("0-3"), specs.LinuxCPU{}, `--cpuset-cpus "0-3": requested CPUs are not available (available: 0-1)`},
		{"cpuset bad", WithCpusetCpus("a"), specs.LinuxCPU{}, `--cpuset-cpus "a": invalid value "a"`},
		{"cpuset bad range", WithCpusetCpus("1-0"), specs.LinuxCPU{}, `--cpuset-cpus "1-0": invalid range "1-0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := generate(tc.opt)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Linux.Resources.CPU; got == nil || !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPidsLimit(t *testing.T) {
	fakeHost(t, 20000, false)
	for _, tc := range []struct{ in, want int64 }{{100, 100}, {0, -1}, {-1, -1}, {-7, -1}} {
		s := gen(t, WithPidsLimit(tc.in))
		if got := *s.Linux.Resources.Pids.Limit; got != tc.want {
			t.Errorf("WithPidsLimit(%d): got %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestUlimits(t *testing.T) {
	inf := uint64(unix.RLIM_INFINITY)
	for _, tc := range []struct {
		in   string
		want Ulimit
		err  string
	}{
		{"nofile=1024", Ulimit{"nofile", 1024, 1024}, ""},
		{"nofile=1024:2048", Ulimit{"nofile", 1024, 2048}, ""},
		{"core=-1", Ulimit{"core", inf, inf}, ""},
		{"core=0:-1", Ulimit{"core", 0, inf}, ""},
		{"nofile=2048:1024", Ulimit{}, `--ulimit "nofile=2048:1024": soft limit must be less than or equal to hard limit`},
		{"bogus=1", Ulimit{}, `--ulimit "bogus=1": unknown ulimit "bogus"`},
		{"nofile", Ulimit{}, `--ulimit "nofile": want name=soft[:hard]`},
		{"nofile=x", Ulimit{}, `--ulimit "nofile=x": soft limit: "x" is not a number or -1`},
		{"nofile=1:y", Ulimit{}, `--ulimit "nofile=1:y": hard limit: "y" is not a number or -1`},
	} {
		got, err := ParseUlimit(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseUlimit(%q): got %+v, %q; want %+v, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}

	for _, tc := range []struct {
		name     string
		canRaise bool
		uls      []Ulimit
		want     []specs.POSIXRlimit
		err      string
	}{
		{"replace default", false, []Ulimit{{"nofile", 100, 200}}, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}}, ""},
		{"add", false, []Ulimit{{"nproc", 10, 20}}, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 20000}, {Type: "RLIMIT_NPROC", Soft: 10, Hard: 20}}, ""},
		{"at host hard", false, []Ulimit{{"nofile", 20000, 20000}}, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 20000, Hard: 20000}}, ""},
		{"above host hard", false, []Ulimit{{"nofile", 30000, 30000}}, nil, `--ulimit "nofile=30000": above this host's hard limit 20000`},
		{"unlimited above host hard", false, []Ulimit{{"nofile", 1, inf}}, nil, `--ulimit "nofile=1:unlimited": above this host's hard limit 20000`},
		{"above host hard with CAP_SYS_RESOURCE", true, []Ulimit{{"nofile", 30000, 30000}}, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 30000, Hard: 30000}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, 20000, tc.canRaise)
			s, err := generate(WithUlimits(tc.uls...))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Process.Rlimits, tc.want) {
				t.Errorf("got %+v, want %+v", s.Process.Rlimits, tc.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	fakeHost(t, 20000, false)
	for _, tc := range []struct {
		name string
		opts []SpecOpt
		want []string
	}{
		{"image env over default PATH", []SpecOpt{WithImageConfig(ocispec.ImageConfig{Env: []string{"PATH=/x", "A=1"}})}, []string{"PATH=/x", "A=1"}},
		{"later wins, image env kept", []SpecOpt{WithImageConfig(ocispec.ImageConfig{Env: []string{"A=1", "B=2"}}), WithEnv([]string{"B=3", "C=4"})}, []string{"PATH=" + DefaultPathEnv, "A=1", "B=3", "C=4"}},
		{"bare name removes", []SpecOpt{WithEnv([]string{"A=1", "B=2"}), WithEnv([]string{"A"})}, []string{"PATH=" + DefaultPathEnv, "B=2"}},
		{"value with =", []SpecOpt{WithEnv([]string{"A=b=c"})}, []string{"PATH=" + DefaultPathEnv, "A=b=c"}},
		{"hostname and tty defaults", []SpecOpt{WithHostname("web"), WithTTY(true)}, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=web", "TERM=xterm"}},
		{"env beats hostname default", []SpecOpt{WithEnv([]string{"HOSTNAME=mine", "TERM=vt100"}), WithHostname("web"), WithTTY(true)}, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=mine", "TERM=vt100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gen(t, tc.opts...)
			if !reflect.DeepEqual(s.Process.Env, tc.want) {
				t.Errorf("got %q, want %q", s.Process.Env, tc.want)
			}
		})
	}
	if _, err := generate(WithEnv([]string{"=x"})); err == nil || err.Error() != `--env "=x": variable name is empty` {
		t.Errorf("got %v", err)
	}
}

func TestProcessOpts(t *testing.T) {
	fakeHost(t, 20000, false)
	s := gen(t,
		WithImageConfig(ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"a", "b"}, WorkingDir: "/srv/", StopSignal: "SIGQUIT"}),
		WithHostname("web"), WithTTY(true), WithCgroupsPath("/capsa/x"), WithLabels(map[string]string{"k": "v"}),
		WithNoNewPrivileges(true),
	)
	if got, want := s.Process.Args, []string{"/ep", "a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q, want %q", got, want)
	}
	if s.Process.Cwd != "/srv" || s.Hostname != "web" || !s.Process.Terminal || s.Linux.CgroupsPath != "/capsa/x" || !s.Process.NoNewPrivileges {
		t.Errorf("got cwd %q hostname %q terminal %v cgroups %q nnp %v", s.Process.Cwd, s.Hostname, s.Process.Terminal, s.Linux.CgroupsPath, s.Process.NoNewPrivileges)
	}
	if s.Annotations["k"] != "v" || s.Annotations[AnnotationStopSignal] != "SIGQUIT" {
		t.Errorf("annotations: got %v", s.Annotations)
	}
	s = gen(t, WithImageConfig(ocispec.ImageConfig{Cmd: []string{"sh"}}), WithProcessArgs("echo", "hi"))
	if got, want := s.Process.Args, []string{"echo", "hi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		opt  SpecOpt
		want string
	}{
		{WithWorkdir("rel"), `--workdir "rel": the working directory is invalid, it needs to be an absolute path`},
		{WithHostname(strings.Repeat("a", 65)), `--hostname "` + strings.Repeat("a", 65) + `": invalid hostname (1 to 64 characters, no spaces or slashes)`},
		{WithProcessArgs(), `command "": no command given`},
		{WithImageConfig(ocispec.ImageConfig{StopSignal: "SIGBOGUS"}), `image StopSignal "SIGBOGUS": invalid signal "SIGBOGUS"`},
		{WithLabels(map[string]string{"": "v"}), `--label "=v": empty label name`},
		{WithRootfs("", false), `--rootfs "": empty path`},
	} {
		if _, err := generate(tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestCommand(t *testing.T) {
	fakeHost(t, 20000, false)
	img := WithImageConfig(ocispec.ImageConfig{Entrypoint: []string{"/ep", "-x"}, Cmd: []string{"serve"}})
	for _, tc := range []struct {
		name string
		opts []SpecOpt
		want []string
	}{
		{"image", []SpecOpt{img}, []string{"/ep", "-x", "serve"}},
		{"command keeps entrypoint", []SpecOpt{img, WithCommand("run", "1")}, []string{"/ep", "-x", "run", "1"}},
		{"command before image", []SpecOpt{WithCommand("run"), img}, []string{"/ep", "-x", "run"}},
		{"entrypoint drops image cmd", []SpecOpt{img, WithEntrypoint("/bin/sh")}, []string{"/bin/sh"}},
		{"entrypoint and command", []SpecOpt{img, WithEntrypoint("/bin/sh"), WithCommand("-c", "true")}, []string{"/bin/sh", "-c", "true"}},
		{"empty entrypoint", []SpecOpt{img, WithEntrypoint(), WithCommand("echo")}, []string{"echo"}},
		{"process args win", []SpecOpt{img, WithCommand("x"), WithProcessArgs("/a")}, []string{"/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Generate(context.Background(), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Process.Args, tc.want) {
				t.Errorf("got %q, want %q", s.Process.Args, tc.want)
			}
		})
	}
	_, err := Generate(context.Background(), WithImageConfig(ocispec.ImageConfig{Entrypoint: []string{"/ep"}}), WithEntrypoint())
	if err == nil || err.Error() != "no command specified: the image has none and none was given" {
		t.Errorf("no command: got %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"TERM", unix.SIGTERM, true}, {"SIGKILL", unix.SIGKILL, true}, {"sigint", unix.SIGINT, true},
		{"9", unix.SIGKILL, true}, {"0", 0, false}, {"65", 0, false}, {"NOPE", 0, false},
	} {
		got, err := ParseSignal(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseSignal(%q): got %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMounts(t *testing.T) {
	fakeHost(t, 20000, false)
	find := func(s *specs.Spec, dst string) []specs.Mount {
		var out []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination == dst {
				out = append(out, m)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts []SpecOpt
		dst  string
		want specs.Mount
	}{
		{"bind rw", []SpecOpt{WithBindMount("/srv/data/", "/data", false)}, "/data", specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rprivate", "rw"}}},
		{"bind ro", []SpecOpt{WithBindMount("/srv", "/data", true)}, "/data", specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind", "rprivate", "ro"}}},
		{"bind replaces", []SpecOpt{WithBindMount("/a", "/data", true), WithBindMount("/b", "/data/", false)}, "/data", specs.Mount{Destination: "/data", Type: "bind", Source: "/b", Options: []string{"rbind", "rprivate", "rw"}}},
		{"bind over a default", []SpecOpt{WithBindMount("/host/shm", "/dev/shm", false)}, "/dev/shm", specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/host/shm", Options: []string{"rbind", "rprivate", "rw"}}},
		{"tmpfs defaults", []SpecOpt{WithTmpfs("/run", "")}, "/run", specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev"}}},
		{"tmpfs options merge", []SpecOpt{WithTmpfs("/run", "exec,size=64m,mode=1777")}, "/run", specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "exec", "size=64m", "mode=1777"}}},
		{"tmpfs same key", []SpecOpt{WithTmpfs("/run", "size=1m,size=2m")}, "/run", specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev", "size=2m"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gen(t, tc.opts...)
			got := find(s, tc.dst)
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		opt  SpecOpt
		want string
	}{
		{WithBindMount("rel", "/d", false), `--volume "rel:/d": source "rel" is not an absolute path`},
		{WithBindMount("/s", "d", false), `--volume "/s:d": destination "d" is not an absolute path`},
		{WithBindMount("/s", "/", false), `--volume "/s:/": destination can't be '/'`},
		{WithTmpfs("/run", "size="), `--tmpfs "/run:size=": option "size" has no value`},
		{WithTmpfs("/run", "a,,b"), `--tmpfs "/run:a,,b": empty mount option`},
		{WithTmpfs("run", ""), `--tmpfs "run": destination "run" is not an absolute path`},
	} {
		if _, err := generate(tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	s := gen(t, WithRootfs("/r", false), WithReadonlyRootfs(true))
	if s.Root.Path != "/r" || !s.Root.Readonly {
		t.Errorf("root: got %+v", s.Root)
	}
}

func TestInit(t *testing.T) {
	fakeHost(t, 20000, false)
	bin := filepath.Join(t.TempDir(), "tini")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The command given after --init is still wrapped.
	s := gen(t, WithInit(bin), WithProcessArgs("sleep", "1"))
	if got, want := s.Process.Args, []string{InitPath, "--", "sleep", "1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q, want %q", got, want)
	}
	if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == InitPath && m.Source == bin }) {
		t.Errorf("no bind of %s at %s in %+v", bin, InitPath, s.Mounts)
	}
	if _, err := generate(WithInit("/nonexistent/init")); err == nil || err.Error() != `--init "/nonexistent/init": not an executable file` {
		t.Errorf("got %v", err)
	}
}

// writeRootfs makes a rootfs with passwd and group files.
func writeRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\nuser:x:1000:1000:user:/home/user:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n",
		"etc/group":  "root:x:0:\nuser:x:1000:\nwww-data:x:33:\naudio:x:29:user,web\nvideo:x:44:user\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUser(t *testing.T) {
	fakeHost(t, 20000, false)
	root := writeRootfs(t)
	for _, tc := range []struct {
		user string
		want specs.User
		home string
		err  string
	}{
		{"user", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 29, 44}}, "/home/user", ""},
		{"1000", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 29, 44}}, "/home/user", ""},
		{"web", specs.User{UID: 33, GID: 33, AdditionalGids: []uint32{33, 29}}, "/var/www", ""},
		{"user:video", specs.User{UID: 1000, GID: 44, AdditionalGids: []uint32{44}}, "/home/user", ""},
		{"user:7", specs.User{UID: 1000, GID: 7, AdditionalGids: []uint32{7}}, "/home/user", ""},
		{"4242", specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}, "", ""},
		{"4242:4243", specs.User{UID: 4242, GID: 4243, AdditionalGids: []uint32{4243}}, "", ""},
		{"0", specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0}}, "/root", ""},
		{"nobody", specs.User{}, "", `--user "nobody": unable to find user nobody: no matching entries in passwd file`},
		{"user:nogroup", specs.User{}, "", `--user "user:nogroup": unable to find group nogroup: no matching entries in group file`},
		{"4294967296", specs.User{}, "", `--user "4294967296": uid 4294967296 is out of range [0, 2147483647]`},
		{"user:", specs.User{}, "", `--user "user:": want user[:group]`},
		{"", specs.User{}, "", `--user "": empty user`},
	} {
		t.Run(tc.user, func(t *testing.T) {
			// The user first, the rootfs after: the lookup waits for it.
			s, err := generate(WithUser(tc.user), WithRootfs(root, false))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Process.User, tc.want) {
				t.Errorf("got %+v, want %+v", s.Process.User, tc.want)
			}
			home := ""
			for _, e := range s.Process.Env {
				if v, ok := strings.CutPrefix(e, "HOME="); ok {
					home = v
				}
			}
			if home != tc.home {
				t.Errorf("HOME: got %q, want %q", home, tc.home)
			}
		})
	}
}

func TestUserLookupStaysInRoot(t *testing.T) {
	fakeHost(t, 20000, false)
	root := t.TempDir()
	// The image's /etc is a symlink that climbs out, and its passwd an
	// absolute symlink: both must resolve inside root.
	inner := filepath.Join(root, "real")
	if err := os.MkdirAll(filepath.Join(inner, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inner, "etc", "pw"), []byte("inside:x:77:77::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../real/etc", filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/real/etc/pw", filepath.Join(inner, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	s, err := generate(WithRootfs(root, false), WithUser("inside"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.User.UID != 77 {
		t.Errorf("got uid %d, want 77", s.Process.User.UID)
	}
	// "root" exists on the host but not in this rootfs.
	if _, err := generate(WithRootfs(root, false), WithUser("root")); err == nil {
		t.Errorf("user root: resolved from outside the rootfs")
	}
	// A FIFO in place of /etc/passwd is refused, not waited on.
	fifoRoot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fifoRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(fifoRoot, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = generate(WithRootfs(fifoRoot, false), WithUser("x"))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo passwd: got %v", err)
	}
	// A relative rootfs cannot be searched.
	if _, err := generate(WithUser("x")); err == nil || !strings.Contains(err.Error(), "no absolute rootfs path") {
		t.Errorf("relative rootfs: got %v", err)
	}
}

// TestValidates checks that generated specs pass capsa-runtime's own
// validation of config.json.
func TestValidates(t *testing.T) {
	fakeHost(t, 20000, false)
	root := writeRootfs(t)
	bundle := filepath.Dir(root)
	for _, tc := range []struct {
		name string
		opts []SpecOpt
	}{
		{"default", nil},
		{"privileged", []SpecOpt{WithPrivileged()}},
		{"read-only", []SpecOpt{WithReadonlyRootfs(true), WithTmpfs("/run", "size=1m")}},
		{"user", []SpecOpt{WithUser("user:video")}},
		{"resources", []SpecOpt{WithMemoryLimit(64 << 20), WithMemorySwap(-1), WithCPUs(1.5), WithCPUShares(512), WithCpusetCpus("0"), WithPidsLimit(100)}},
		{"everything", []SpecOpt{
			WithImageConfig(ocispec.ImageConfig{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"}, Env: []string{"A=1"}, WorkingDir: "/tmp", User: "1000"}),
			WithHostname("h"), WithTTY(true), WithCapAdd("NET_ADMIN"), WithCapDrop("MKNOD"),
			WithBindMount("/tmp", "/mnt", true), WithLabels(map[string]string{"a": "b"}), WithUlimits(Ulimit{"nproc", 100, 200}),
			WithNoNewPrivileges(true),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]SpecOpt{WithRootfs(root, false), WithProcessArgs("/bin/sh")}, tc.opts...)
			s := gen(t, opts...)
			c, err := config.FromSpec(bundle, s)
			if err != nil {
				t.Fatalf("config.FromSpec: %v", err)
			}
			if c.Process.Capabilities.Bounding == 0 {
				t.Errorf("no capabilities after conversion")
			}
		})
	}
}

func TestWithHostNetwork(t *testing.T) {
	s, err := Generate(context.Background(), WithProcessArgs("true"), WithHostNetwork())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Fatalf("network namespace still there: %v", s.Linux.Namespaces)
		}
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && (m.Type != "bind" || m.Source != "/sys") {
			t.Fatalf("/sys is %+v, want the host's bound (sysfs needs a network namespace of its own)", m)
		}
	}
}

func TestWithShmSize(t *testing.T) {
	s, err := Generate(context.Background(), WithProcessArgs("true"), WithShmSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			n := 0
			for _, o := range m.Options {
				if strings.HasPrefix(o, "size=") {
					n++
					if o != "size=1048576" {
						t.Errorf("got %s, want size=1048576", o)
					}
				}
			}
			if n != 1 {
				t.Errorf("/dev/shm options %v: want one size", m.Options)
			}
			return
		}
	}
	t.Fatal("no /dev/shm mount")
}
