package mountinfo

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	ms := Parse([]byte("36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\nbad line\n"))
	want := []Mount{{ID: 36, Parent: 35, Dev: "98:0", Root: "/mnt1", Mountpoint: "/mnt x",
		Optional: []string{"master:1", "shared:2"}, FSType: "ext3", Source: "/dev/root", SuperOpts: "rw,errors=continue"}}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("Parse:\n got  %+v\n want %+v", ms, want)
	}
}

func TestParseCgroups(t *testing.T) {
	got := ParseCgroups([]byte("4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user\n"))
	want := []Cgroup{{"memory", "/process_api/x"}, {"cpu,cpuacct", "/"}, {"", "/user"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCgroups:\n got  %+v\n want %+v", got, want)
	}
}
