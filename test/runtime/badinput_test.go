package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupDirs lists the container cgroup directories capsa made for id in
// any hierarchy.
func cgroupDirs(id string) []string {
	m, _ := filepath.Glob("/sys/fs/cgroup/*/capsa/" + id)
	return m
}

func TestBadConfigIsRefusedCleanly(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(b *bundle)
		want   string
	}{
		{"malformed json", func(b *bundle) {
			b.save(t)
			os.WriteFile(filepath.Join(b.dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644)
		}, "config.json: unexpected EOF"},
		{"wrong type", func(b *bundle) {
			b.save(t)
			os.WriteFile(filepath.Join(b.dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {"args": "sh"}}`), 0o644)
		}, `config.json: field "process.args": cannot use JSON string`},
		{"unknown namespace", func(b *bundle) {
			b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			b.save(t)
		}, `linux.namespaces[6].type: unknown namespace type "bogus"`},
		{"mapping without userns", func(b *bundle) {
			b.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
			b.save(t)
		}, "linux.uidMappings: id mappings given without a user namespace"},
		{"relative missing rootfs", func(b *bundle) {
			b.spec.Root.Path = "nonexistent"
			b.save(t)
		}, `root.path: "nonexistent": no such file or directory`},
		{"missing bundle", func(b *bundle) { b.dir = filepath.Join(b.dir, "nope") }, "no config.json"},
		{"missing executable", func(b *bundle) {
			b.spec.Process.Args = []string{"/no/such/binary"}
			b.save(t)
		}, `exec "/no/such/binary": no such file or directory`},
		{"bad bind source", func(b *bundle) {
			b.spec.Mounts = append(b.spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir", Options: []string{"bind"}})
			b.save(t)
		}, "/no/such/dir"},
		{"cgroupsPath climbing out with ..", func(b *bundle) {
			b.spec.Linux.CgroupsPath = "/capsa/../../etc"
			b.save(t)
		}, `linux.cgroupsPath: "/capsa/../../etc": ".." is not allowed`},
		{"failing createRuntime hook", func(b *bundle) {
			b.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook says no >&2; exit 3"}}}}
			b.save(t)
		}, "createRuntime hook 0 (/bin/sh): exit status 3: hook says no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRT(t)
			b := newBundle(t, "true")
			tt.mutate(b)
			id := containerID(t)
			res := r.run(t, "create", "--bundle", b.dir, id)
			if res.code == 0 {
				t.Fatalf("create succeeded: %v", res)
			}
			msg := strings.TrimSpace(res.stderr)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want one line containing %q", msg, tt.want)
			}
			if ents, _ := os.ReadDir(r.root); len(ents) != 0 {
				var names []string
				for _, e := range ents {
					if !strings.HasPrefix(e.Name(), ".") {
						names = append(names, e.Name())
					}
				}
				if len(names) > 0 {
					t.Errorf("state left behind: %v", names)
				}
			}
			if d := cgroupDirs(id); len(d) > 0 {
				t.Errorf("cgroups left behind: %v", d)
			}
			if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), b.dir) {
				t.Errorf("mounts left behind under %s", b.dir)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	r := newRT(t)
	b := newBundle(t, "sleep", "60")
	b.save(t)
	id := containerID(t)
	r.mustRun(t, "run", "-d", "--bundle", b.dir, id)
	defer r.run(t, "delete", "-f", id)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"kill", id, "SIGNOPE"}, `unknown signal "SIGNOPE"`},
		{[]string{"kill", id, "99"}, `invalid signal "99"`},
		{[]string{"state", "no-such-container"}, `container "no-such-container" does not exist`},
		{[]string{"start", "../escape"}, `container id "../escape"`},
		{[]string{"create", "--bundle", b.dir, id}, "already exists"},
		{[]string{"--systemd-cgroup", "create", "--bundle", b.dir, "x"}, "systemd cgroup driver is not supported"},
		{[]string{"list", "--format", "yaml"}, `--format "yaml"`},
	}
	for _, tt := range tests {
		res := r.run(t, tt.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("%v: %v, want an error containing %q", tt.args, res, tt.want)
		}
	}
	// The running container was not disturbed.
	if st := r.state(t, id); st["status"] != "running" {
		t.Errorf("status after bad commands: %v", st["status"])
	}
}
