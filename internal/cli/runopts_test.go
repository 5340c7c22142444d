package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/spf13/cobra"
)

// parseRun parses a run command line the way the run command does.
func parseRun(t *testing.T, args ...string) (*containerConfig, error) {
	t.Helper()
	var o runOptions
	cmd := &cobra.Command{Use: "run"}
	f := cmd.Flags()
	o.addRunFlags(f)
	o.addCreateFlags(f)
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	return o.parse(f, f.Args())
}

func TestRunFlags(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes := true
	ten := 10
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *containerConfig)
	}{
		{"image and command", []string{"busybox", "sh", "-c", "exit 3"}, func(t *testing.T, c *containerConfig) {
			if c.Config.Image != "busybox" || !reflect.DeepEqual([]string(c.Config.Cmd), []string{"sh", "-c", "exit 3"}) {
				t.Errorf("image %q cmd %q", c.Config.Image, c.Config.Cmd)
			}
			if !c.Config.AttachStdout || !c.Config.AttachStderr || c.Config.AttachStdin || c.Config.OpenStdin {
				t.Errorf("default attach: %+v", c.Config)
			}
		}},
		{"memory", []string{"-m", "512m", "--memory-swap", "1g", "busybox"}, func(t *testing.T, c *containerConfig) {
			if c.HostConfig.Memory != 512<<20 || c.HostConfig.MemorySwap != 1<<30 {
				t.Errorf("memory %d swap %d", c.HostConfig.Memory, c.HostConfig.MemorySwap)
			}
		}},
		{"unlimited swap", []string{"--memory-swap", "-1", "busybox"}, func(t *testing.T, c *containerConfig) {
			if c.HostConfig.MemorySwap != -1 {
				t.Errorf("swap %d", c.HostConfig.MemorySwap)
			}
		}},
		{"cpus", []string{"--cpus", "1.5", "--cpu-shares", "512", "--cpuset-cpus", "0-1", "busybox"}, func(t *testing.T, c *containerConfig) {
			if c.HostConfig.NanoCPUs != 1_500_000_000 || c.HostConfig.CPUShares != 512 || c.HostConfig.CpusetCpus != "0-1" {
				t.Errorf("cpu %+v", c.HostConfig.Resources)
			}
		}},
		{"pids limit only when set", []string{"--pids-limit", "64", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.HostConfig.PidsLimit, i64(64)) {
				t.Errorf("pids %v", c.HostConfig.PidsLimit)
			}
		}},
		{"no pids limit", []string{"busybox"}, func(t *testing.T, c *containerConfig) {
			if c.HostConfig.PidsLimit != nil || c.HostConfig.Init != nil || c.Config.StopTimeout != nil || c.Config.Healthcheck != nil {
				t.Errorf("unset flags leaked: %+v %+v", c.HostConfig, c.Config)
			}
		}},
		{"ulimit", []string{"--ulimit", "nofile=1024:2048", "busybox"}, func(t *testing.T, c *containerConfig) {
			want := []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
			if !reflect.DeepEqual(c.HostConfig.Ulimits, want) {
				t.Errorf("ulimits %+v", c.HostConfig.Ulimits)
			}
		}},
		{"interactive tty", []string{"-it", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !c.Config.Tty || !c.Config.OpenStdin || !c.Config.AttachStdin {
				t.Errorf("-it: %+v", c.Config)
			}
		}},
		{"attach stderr only", []string{"-a", "stderr", "busybox"}, func(t *testing.T, c *containerConfig) {
			if c.Config.AttachStdout || !c.Config.AttachStderr {
				t.Errorf("-a stderr: %+v", c.Config)
			}
		}},
		{"env label workdir user", []string{"-e", "A=1", "-e", "B=", "-l", "k=v", "-l", "flag", "-w", "/tmp", "-u", "1000:1000", "--name", "x", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.Config.Env, []string{"A=1", "B="}) {
				t.Errorf("env %q", c.Config.Env)
			}
			if !reflect.DeepEqual(c.Config.Labels, map[string]string{"k": "v", "flag": ""}) {
				t.Errorf("labels %v", c.Config.Labels)
			}
			if c.Config.WorkingDir != "/tmp" || c.Config.User != "1000:1000" {
				t.Errorf("workdir %q user %q", c.Config.WorkingDir, c.Config.User)
			}
		}},
		{"volumes", []string{"-v", "/host:/ctr:ro", "-v", "/anon", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.HostConfig.Binds, []string{"/host:/ctr:ro"}) {
				t.Errorf("binds %q", c.HostConfig.Binds)
			}
			if _, ok := c.Config.Volumes["/anon"]; !ok {
				t.Errorf("volumes %v", c.Config.Volumes)
			}
		}},
		{"mount", []string{"--mount", "type=bind,src=/a,dst=/b,readonly", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "busybox"}, func(t *testing.T, c *containerConfig) {
			want := []mount.Mount{
				{Type: mount.TypeBind, Source: "/a", Target: "/b", ReadOnly: true},
				{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
			}
			if !reflect.DeepEqual(c.HostConfig.Mounts, want) {
				t.Errorf("mounts %+v", c.HostConfig.Mounts)
			}
		}},
		{"restart on-failure", []string{"--restart", "on-failure:3", "busybox"}, func(t *testing.T, c *containerConfig) {
			if c.HostConfig.RestartPolicy != (container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}) {
				t.Errorf("restart %+v", c.HostConfig.RestartPolicy)
			}
		}},
		{"entrypoint reset", []string{"--entrypoint", "", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual([]string(c.Config.Entrypoint), []string{""}) {
				t.Errorf("entrypoint %q", c.Config.Entrypoint)
			}
		}},
		{"security and init", []string{"--rm", "--read-only", "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "10", "--runtime", "capsa-runtime", "--hostname", "box", "--network", "none", "busybox"}, func(t *testing.T, c *containerConfig) {
			h := c.HostConfig
			if !h.AutoRemove || !h.ReadonlyRootfs || !h.Privileged || !reflect.DeepEqual(h.Init, &yes) || h.Runtime != "capsa-runtime" || h.NetworkMode != "none" {
				t.Errorf("host config %+v", h)
			}
			if !reflect.DeepEqual(h.CapAdd, []string{"NET_ADMIN"}) || !reflect.DeepEqual(h.CapDrop, []string{"ALL"}) || !reflect.DeepEqual(h.SecurityOpt, []string{"no-new-privileges"}) {
				t.Errorf("caps %q %q secopt %q", h.CapAdd, h.CapDrop, h.SecurityOpt)
			}
			if c.Config.StopSignal != "SIGUSR1" || !reflect.DeepEqual(c.Config.StopTimeout, &ten) || c.Config.Hostname != "box" {
				t.Errorf("config %+v", c.Config)
			}
		}},
		{"healthcheck", []string{"--health-cmd", "true", "--health-interval", "2s", "--health-retries", "5", "busybox"}, func(t *testing.T, c *containerConfig) {
			want := &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 2 * time.Second, Retries: 5}
			if !reflect.DeepEqual(c.Config.Healthcheck, want) {
				t.Errorf("health %+v", c.Config.Healthcheck)
			}
		}},
		{"no healthcheck", []string{"--no-healthcheck", "busybox"}, func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.Config.Healthcheck.Test, []string{"NONE"}) {
				t.Errorf("health %+v", c.Config.Healthcheck)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseRun(t, tt.args...)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-m", "4XB", "busybox"}, `invalid argument "4XB" for "-m, --memory" flag: invalid s`},
		{[]string{"--cpus", "abc", "busybox"}, `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`},
		{[]string{"--cpus", "-1", "busybox"}, `value must be positive`},
		{[]string{"--memory-swap", "lots", "busybox"}, `invalid argument "lots" for "--memory-swap" flag`},
		{[]string{"--ulimit", "nofile", "busybox"}, `invalid argument "nofile" for "--ulimit" flag`},
		{[]string{"--restart", "sometimes", "busybox"}, `invalid restart policy: unknown policy 'sometimes'`},
		{[]string{"--restart", "always:3", "busybox"}, `maximum retry count can only be used with 'on-failure'`},
		{[]string{"--restart", "always", "--rm", "busybox"}, `cannot specify both --restart and --rm`},
		{[]string{"-w", "rel", "busybox"}, `the working directory 'rel' is invalid, it needs to be an absolute path`},
		{[]string{"-a", "stdfoo", "busybox"}, `valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"-v", "/a:rel", "busybox"}, `mount path must be absolute`},
		{[]string{"-v", "/a:/b:bogus", "busybox"}, `invalid mode: bogus`},
		{[]string{"--mount", "type=bind,dst=/b", "busybox"}, `source is required when specifying bind mounts`},
		{[]string{"--mount", "type=bind,src=/a", "busybox"}, `target is required`},
		{[]string{"--no-healthcheck", "--health-cmd", "true", "busybox"}, `--no-healthcheck conflicts with --health-* options`},
		{[]string{"--health-interval", "-1s", "busybox"}, `--health-interval cannot be negative`},
		{[]string{"--security-opt", "seccomp=/nonexistent.json", "busybox"}, `opening seccomp profile (/nonexistent.json) failed`},
		{[]string{"--pids-limit", "x", "busybox"}, `invalid argument "x" for "--pids-limit" flag`},
	}
	for _, tt := range tests {
		_, err := parseRun(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse %q: got error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	name := dir + "/env"
	if err := writeFile(name, "# comment\n\nA=1\nFROM_HOST\nUNSET_VAR_XYZ\n"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FROM_HOST", "h")
	got, err := readEnv([]string{name}, []string{"B=2", "A=3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "FROM_HOST=h", "B=2", "A=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env: got %q, want %q", got, want)
	}
}

func TestDetachKeys(t *testing.T) {
	got, err := parseDetachKeys("ctrl-p,ctrl-q")
	if err != nil || !reflect.DeepEqual(got, []byte{16, 17}) {
		t.Errorf("ctrl-p,ctrl-q: %v %v", got, err)
	}
	got, err = parseDetachKeys("a,ctrl-@,ctrl-[")
	if err != nil || !reflect.DeepEqual(got, []byte{'a', 0, 27}) {
		t.Errorf("a,ctrl-@,ctrl-[: %v %v", got, err)
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Error("ctrl-1 accepted")
	}
}

func TestEscapeProxy(t *testing.T) {
	in := strings.NewReader("ab\x10c\x10\x10\x11rest")
	p := &escapeProxy{r: in, keys: []byte{16, 17}}
	buf := make([]byte, 64)
	var out []byte
	var err error
	for err == nil {
		var n int
		n, err = p.Read(buf)
		out = append(out, buf[:n]...)
	}
	if err != errDetached {
		t.Fatalf("err %v, want errDetached", err)
	}
	if string(out) != "ab\x10c\x10" {
		t.Errorf("passed %q, want %q", out, "ab\x10c\x10")
	}
}
