package cgroup

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestResolvePath(t *testing.T) {
	for _, tc := range []struct {
		in, id, want, err string
	}{
		{"", "c1", "/capsa/c1", ""},
		{"pod/c1", "x", "/capsa/pod/c1", ""},
		{"/kubepods/pod1/c1", "x", "/kubepods/pod1/c1", ""},
		{"/a//b/", "x", "/a/b", ""},
		{"/a/../../etc", "x", "", `".." is not allowed`},
		{"..", "x", "", `".." is not allowed`},
		{"/", "x", "", "root cgroup"},
	} {
		got, err := ResolvePath(tc.in, tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolvePath(%q): error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHierarchies(t *testing.T) {
	mi := `25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
29 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
30 25 0:24 /sub /mnt/memsub rw - cgroup cgroup rw,memory
31 25 0:24 / /mnt/mem\040copy rw - cgroup cgroup rw,memory
`
	hs := parseHierarchies([]byte(mi))
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd",
	}
	if len(hs.v1) != len(want) {
		t.Errorf("v1 = %v, want %v", hs.v1, want)
	}
	for k, v := range want {
		if hs.v1[k] != v {
			t.Errorf("v1[%q] = %q, want %q", k, hs.v1[k], v)
		}
	}
	if hs.v2 != "/sys/fs/cgroup/unified" {
		t.Errorf("v2 = %q", hs.v2)
	}
}

func TestParseProcCgroup(t *testing.T) {
	got := parseProcCgroup([]byte("4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user\n"))
	want := map[string]string{"memory": "/process_api/x", "cpu": "/", "cpuacct": "/", "unified": "/user"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestDeviceRule(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		in   specs.LinuxDeviceCgroup
		want string
		err  bool
	}{
		{specs.LinuxDeviceCgroup{Access: "rwm"}, "a *:* rwm", false},
		{specs.LinuxDeviceCgroup{Type: "c", Major: i(1), Minor: i(3), Access: "rw"}, "c 1:3 rw", false},
		{specs.LinuxDeviceCgroup{Type: "b", Major: i(8), Access: "m"}, "b 8:* m", false},
		{specs.LinuxDeviceCgroup{Type: "c", Major: i(-1), Minor: i(-1)}, "c *:* rwm", false},
		{specs.LinuxDeviceCgroup{Type: "x"}, "", true},
		{specs.LinuxDeviceCgroup{Type: "c", Access: "rwx"}, "", true},
	} {
		got, err := deviceRule(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("deviceRule(%+v) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestConversions(t *testing.T) {
	for _, tc := range []struct{ shares, weight uint64 }{{2, 1}, {1024, 39}, {262144, 10000}, {0, 1}, {1 << 20, 10000}} {
		if got := SharesToWeight(tc.shares); got != tc.weight {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tc.shares, got, tc.weight)
		}
	}
	for _, tc := range []struct {
		w    uint16
		want uint64
	}{{10, 1}, {1000, 10000}, {500, 4950}} {
		if got := BlkioWeightToIOWeight(tc.w); got != tc.want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", tc.w, got, tc.want)
		}
	}
}

func TestCheckRefusesMissingControllers(t *testing.T) {
	lim := int64(1 << 20)
	classID := uint32(7)
	m := &manager{st: State{Path: "/capsa/x", V1: map[string]string{"memory": "/m/capsa/x"}, V2: "/u/capsa/x"}}
	for _, tc := range []struct {
		r    specs.LinuxResources
		want string
	}{
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim}}, ""},
		{specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &lim}}, "linux.resources.pids: this host has no pids cgroup controller"},
		{specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, "no hugetlb"},
		{specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: &classID}}, "network.classID: this host has no net_cls"},
		{specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, "not a cgroup interface file"},
		{specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "manages this file itself"},
		{specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, ""},
	} {
		err := m.check(&tc.r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("check(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestCheckV2(t *testing.T) {
	lim, swap, rt := int64(100), int64(50), int64(1000)
	for _, tc := range []struct {
		r    specs.LinuxResources
		want string
	}{
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim, Swap: &swap}}, "below memory.limit"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: &swap}}, "needs memory.limit"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: &rt}}, "realtime"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim}}, ""},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}}, "linux.resources.devices[0]"},
		{specs.LinuxResources{Devices: DefaultDeviceRules()}, ""},
	} {
		err := checkV2(&tc.r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkV2(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
}
