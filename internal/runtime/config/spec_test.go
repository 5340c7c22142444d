package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// bundle makes a bundle directory with an empty rootfs.
func bundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFromSpecDefault(t *testing.T) {
	dir := bundle(t)
	c, err := FromSpec(dir, DefaultSpec(false))
	if err != nil {
		t.Fatalf("FromSpec(default spec): %v", err)
	}
	if got, want := c.Rootfs, filepath.Join(dir, "rootfs"); got != want {
		t.Errorf("Rootfs = %q, want %q", got, want)
	}
	if !c.RootReadonly {
		t.Error("RootReadonly = false, want true")
	}
	if !c.NewNamespace(NSPID) || !c.NewNamespace(NSMount) || c.NewNamespace(NSUser) {
		t.Errorf("namespaces = %+v", c.Namespaces)
	}
	var devpts *Mount
	for i := range c.Mounts {
		if c.Mounts[i].Destination == "/dev/pts" {
			devpts = &c.Mounts[i]
		}
	}
	if devpts == nil {
		t.Fatal("no /dev/pts mount")
	}
	if devpts.Flags != unix.MS_NOSUID|unix.MS_NOEXEC {
		t.Errorf("/dev/pts flags = %#x, want nosuid|noexec", devpts.Flags)
	}
	if got, want := devpts.Data, "newinstance,ptmxmode=0666,mode=0620,gid=5"; got != want {
		t.Errorf("/dev/pts data = %q, want %q", got, want)
	}
	wantCaps := uint64(1)<<29 | 1<<5 | 1<<10 // AUDIT_WRITE, KILL, NET_BIND_SERVICE
	if c.Process.Capabilities.Bounding != wantCaps {
		t.Errorf("bounding = %#x, want %#x", c.Process.Capabilities.Bounding, wantCaps)
	}
}

func TestFromSpecRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *specs.Spec)
		want   string // the error must contain this
	}{
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion: missing"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, `ociVersion: unsupported version "2.0.0"`},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path: missing"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nope" }, `root.path: "nope": no such file or directory`},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process: missing"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: missing"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `process.cwd: "tmp" is not an absolute path`},
		{"bad env", func(s *specs.Spec) { s.Process.Env = []string{"NOEQUALS"} }, `process.env[0]: "NOEQUALS" is not KEY=value`},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, `linux.namespaces[6].type: unknown namespace type "foo"`},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces[6].type: duplicate pid namespace"},
		{"mapping without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, "linux.uidMappings: id mappings given without a user namespace"},
		{"userns without mapping", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "a new user namespace needs both uidMappings and gidMappings"},
		{"notify as the default seccomp action", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/run/agent.sock"}
		}, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
		{"notify on write", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "write"}, Action: specs.ActNotify}}}
		}, "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write"},
		{"userns without root mapped", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: 100000, Size: 65535}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, "linux.uidMappings: container uid 0 is not mapped"},
		{"missing ns path", func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/var/run/netns/does-not-exist"
		}, `linux.namespaces[1].path: network namespace "/var/run/netns/does-not-exist": no such file or directory`},
		{"relative ns path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "netns" }, `linux.namespaces[1].path: "netns" is not an absolute path`},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, "hostname: set without a uts namespace"},
		{"bad rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, `process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`},
		{"soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "soft limit 2048 is above hard limit 1024"},
		{"bad capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FLY")
		}, `process.capabilities.bounding[3]: unknown capability "CAP_FLY"`},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "10"} },
			`linux.sysctl["vm.swappiness"]: not in a namespace of the container`},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "needs a network namespace"},
		{"bind without source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Options: []string{"bind"}})
		}, "mounts[7].source: missing for bind mount"},
		{"mount without type", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "x"})
		}, "mounts[7].type: missing"},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "hook.sh"}}}
		}, `hooks.poststart[0].path: "hook.sh" is not an absolute path`},
		{"zero hook timeout", func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, "hooks.createRuntime[0].timeout: 0 is not a positive number"},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, `linux.devices[0].type: unknown device type "z"`},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, `linux.rootfsPropagation: unknown propagation "sideways"`},
		{"time offsets without timens", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets: set without a new time namespace"},
		{"oom score", func(s *specs.Spec) { v := 2000; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj: 2000 is outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSpec(false)
			tt.modify(s)
			_, err := FromSpec(bundle(t), s)
			if err == nil {
				t.Fatalf("FromSpec: got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromSpec error = %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalid) && !errors.Is(err, errdefs.ErrNotImplemented) {
				t.Errorf("FromSpec error %q is not ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestMountOptions(t *testing.T) {
	tests := []struct {
		opts     []string
		flags    uintptr
		cleared  uintptr
		prop     []uintptr
		data     string
		set, clr uint64
	}{
		{[]string{"rbind", "ro", "nosuid"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID, 0, nil, "", 0, 0},
		{[]string{"ro", "rw"}, 0, unix.MS_RDONLY, nil, "", 0, 0},
		{[]string{"bind", "rprivate", "shared"}, unix.MS_BIND, 0, []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED}, "", 0, 0},
		{[]string{"mode=755", "size=1m", "noexec"}, unix.MS_NOEXEC, 0, nil, "mode=755,size=1m", 0, 0},
		{[]string{"rro", "rnosuid", "rsuid"}, 0, 0, nil, "", unix.MOUNT_ATTR_RDONLY, unix.MOUNT_ATTR_NOSUID},
	}
	for _, tt := range tests {
		var m Mount
		parseMountOptions(&m, tt.opts)
		if m.Flags != tt.flags || m.ClearedFlags != tt.cleared || m.Data != tt.data ||
			m.RecAttrSet != tt.set || m.RecAttrClr != tt.clr || len(m.Propagation) != len(tt.prop) {
			t.Errorf("parseMountOptions(%q) = flags %#x cleared %#x prop %v data %q set %#x clr %#x; want %#x %#x %v %q %#x %#x",
				tt.opts, m.Flags, m.ClearedFlags, m.Propagation, m.Data, m.RecAttrSet, m.RecAttrClr,
				tt.flags, tt.cleared, tt.prop, tt.data, tt.set, tt.clr)
			continue
		}
		for i := range tt.prop {
			if m.Propagation[i] != tt.prop[i] {
				t.Errorf("parseMountOptions(%q) propagation[%d] = %#x, want %#x", tt.opts, i, m.Propagation[i], tt.prop[i])
			}
		}
	}
}
