package rootfs

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/runtime/config"
)

const (
	nsnd = unix.MS_NOSUID | unix.MS_NODEV
	nsne = unix.MS_NOSUID | unix.MS_NOEXEC
)

// base is the start of every Prepare: "/" rslave, the rootfs bound on
// itself.
var base = []string{
	"mount none on / MS_REC|MS_SLAVE",
	"mount /r on /r MS_BIND|MS_REC",
}

func devBind() config.Mount {
	return config.Mount{Source: "/host/dev", Destination: "/dev", Type: "bind", Flags: unix.MS_BIND | unix.MS_REC}
}

// only keeps the ops that start with one of the prefixes.
func only(ops []string, prefixes ...string) []string {
	var out []string
	for _, op := range ops {
		for _, p := range prefixes {
			if strings.HasPrefix(op, p) {
				out = append(out, op)
				break
			}
		}
	}
	return out
}

func diff(t *testing.T, got, want []string) {
	t.Helper()
	n := len(got)
	if len(want) > n {
		n = len(want)
	}
	bad := len(got) != len(want)
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			bad = true
		}
	}
	if !bad {
		return
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "  "
		if g != w {
			mark = "! "
		}
		b.WriteString(mark + "got  " + g + "\n  " + strings.Repeat(" ", len(mark)-2) + "want " + w + "\n")
	}
	t.Errorf("operations differ:\n%s", b.String())
}

func TestPrepare(t *testing.T) {
	hybrid := map[string]string{
		"/proc/self/mountinfo": `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
		"/proc/self/cgroup": `9:name=systemd:/
4:memory:/capsa/c1
2:cpu,cpuacct:/capsa/c1
0::/capsa/c1
`,
	}
	tests := []struct {
		name    string
		files   []string // fake tree, see fake.add
		cfg     config.Config
		opt     Options
		fail    func(op string) error
		statfs  map[string]int64
		filter  []string // compare only ops with these prefixes (all if nil)
		want    []string
		wantErr string
	}{
		{
			name:  "default /dev in the rootfs",
			files: []string{"d:/r/bin"},
			want: append(base,
				"mkdir /r/dev 0755",
				"mknod /r/dev/null c 1:3 0666",
				"mknod /r/dev/zero c 1:5 0666",
				"mknod /r/dev/full c 1:7 0666",
				"mknod /r/dev/random c 1:8 0666",
				"mknod /r/dev/urandom c 1:9 0666",
				"mknod /r/dev/tty c 5:0 0666",
				"symlink /r/dev/ptmx -> pts/ptmx",
				"symlink /r/dev/fd -> /proc/self/fd",
				"symlink /r/dev/stdin -> /proc/self/fd/0",
				"symlink /r/dev/stdout -> /proc/self/fd/1",
				"symlink /r/dev/stderr -> /proc/self/fd/2",
			),
		},
		{
			name:  "proc, tmpfs /dev, devpts, shm, mqueue, sysfs; a config device replaces a default",
			files: []string{"d:/r/proc", "d:/r/dev", "c:/r/dev/ptmx=5:2"},
			cfg: config.Config{
				Mounts: []config.Mount{
					{Source: "proc", Destination: "/proc", Type: "proc", Flags: nsnd | unix.MS_NOEXEC},
					{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
					{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Flags: nsne, Data: "mode=0620,gid=5"},
					{Source: "shm", Destination: "/dev/shm", Type: "tmpfs", Flags: nsnd | unix.MS_NOEXEC, Data: "mode=1777,size=65536k"},
					{Source: "mqueue", Destination: "/dev/mqueue", Type: "mqueue", Flags: nsnd | unix.MS_NOEXEC},
					{Source: "sysfs", Destination: "/sys", Type: "sysfs", Flags: nsnd | unix.MS_NOEXEC | unix.MS_RDONLY},
				},
				Devices: []config.Device{
					{Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, FileMode: 0o600, UID: 1000, GID: 1000},
					{Path: "/dev/net/tun", Type: 'c', Major: 10, Minor: 200},
				},
			},
			want: append(base,
				"mount proc on /r/proc type proc MS_NOSUID|MS_NODEV|MS_NOEXEC",
				"mount tmpfs on /r/dev type tmpfs MS_NOSUID|MS_STRICTATIME mode=755,size=65536k",
				"mkdir /r/dev/pts 0755",
				"mount devpts on /r/dev/pts type devpts MS_NOSUID|MS_NOEXEC mode=0620,gid=5,newinstance,ptmxmode=0666",
				"mkdir /r/dev/shm 0755",
				"mount shm on /r/dev/shm type tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=1777,size=65536k",
				"mkdir /r/dev/mqueue 0755",
				"mount mqueue on /r/dev/mqueue type mqueue MS_NOSUID|MS_NODEV|MS_NOEXEC",
				"mkdir /r/sys 0755",
				"mount sysfs on /r/sys type sysfs MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
				"mknod /r/dev/zero c 1:5 0666",
				"mknod /r/dev/full c 1:7 0666",
				"mknod /r/dev/random c 1:8 0666",
				"mknod /r/dev/urandom c 1:9 0666",
				"mknod /r/dev/tty c 5:0 0666",
				"mknod /r/dev/null c 1:3 0600",
				"chown /r/dev/null 1000:1000",
				"mkdir /r/dev/net 0755",
				"mknod /r/dev/net/tun c 10:200 0666",
				"unlink /r/dev/ptmx",
				"symlink /r/dev/ptmx -> pts/ptmx",
				"symlink /r/dev/fd -> /proc/self/fd",
				"symlink /r/dev/stdin -> /proc/self/fd/0",
				"symlink /r/dev/stdout -> /proc/self/fd/1",
				"symlink /r/dev/stderr -> /proc/self/fd/2",
			),
		},
		{
			name:  "bind ro: a second remount pass; file source makes a file",
			files: []string{"d:/host/data", "f:/host/conf", "d:/r"},
			cfg: config.Config{Mounts: []config.Mount{
				devBind(),
				{Source: "/host/data", Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID},
				{Source: "/host/conf", Destination: "/etc/app.conf", Type: "bind", Flags: unix.MS_BIND},
			}},
			filter: []string{"mount /host", "mount none on /r", "mkdir", "create"},
			want: []string{
				"mkdir /r/dev 0755",
				"mount /host/dev on /r/dev MS_BIND|MS_REC",
				"mkdir /r/data 0755",
				"mount /host/data on /r/data MS_BIND",
				"mount none on /r/data MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND",
				"mkdir /r/etc 0755",
				"create /r/etc/app.conf",
				"mount /host/conf on /r/etc/app.conf MS_BIND",
			},
		},
		{
			name:  "bind remount refused: keep the flags the source has locked",
			files: []string{"d:/host/data", "d:/r/data"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/data", Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY}}},
			statfs: map[string]int64{"/host/data": unix.ST_NODEV | unix.ST_NOSUID | unix.ST_NOATIME},
			fail: func(op string) error {
				if op == "mount none on /r/data MS_RDONLY|MS_REMOUNT|MS_BIND" {
					return unix.EPERM
				}
				return nil
			},
			filter: []string{"mount none on /r/data"},
			want: []string{
				"mount none on /r/data MS_RDONLY|MS_REMOUNT|MS_BIND = operation not permitted",
				"mount none on /r/data MS_RDONLY|MS_NOSUID|MS_NODEV|MS_REMOUNT|MS_NOATIME|MS_BIND",
			},
		},
		{
			name:  "bind remount refused and the config clears a locked flag",
			files: []string{"d:/host/data", "d:/r/data"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/data", Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY, ClearedFlags: unix.MS_NOSUID}}},
			statfs: map[string]int64{"/host/data": unix.ST_NOSUID},
			fail: func(op string) error {
				if strings.HasPrefix(op, "mount none on /r/data") {
					return unix.EPERM
				}
				return nil
			},
			wantErr: `mounts[1]: remount "/data": the options clear MS_NOSUID, which the source "/host/data" has and the kernel locks`,
		},
		{
			name:    "missing bind source",
			cfg:     config.Config{Mounts: []config.Mount{devBind(), {Source: "/nope", Destination: "/x", Type: "bind", Flags: unix.MS_BIND}}},
			files:   []string{"d:/r"},
			wantErr: `mounts[1]: bind source "/nope" does not exist`,
		},
		{
			name:  "failed mount names type and destination",
			files: []string{"d:/r/proc"},
			cfg:   config.Config{Mounts: []config.Mount{{Source: "proc", Destination: "/proc", Type: "proc"}}},
			fail: func(op string) error {
				if strings.HasPrefix(op, "mount proc") {
					return unix.EACCES
				}
				return nil
			},
			wantErr: `mounts[0]: mount "proc" on "/proc": permission denied`,
		},
		{
			name: "a destination symlinked out of the rootfs stays in it (CVE-2021-30465)",
			files: []string{"d:/host/src", "d:/r/etc", "l:/r/evil=/../../etc", "l:/r/up=../../../..",
				"l:/r/dangling=/nowhere"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/src", Destination: "/evil", Type: "bind", Flags: unix.MS_BIND},
				{Source: "/host/src", Destination: "/up/etc/deep/er", Type: "bind", Flags: unix.MS_BIND},
			}},
			filter: []string{"mount /host/src", "mkdir"},
			want: []string{
				"mkdir /r/dev 0755",
				"mount /host/src on /r/etc MS_BIND",
				"mkdir /r/etc/deep 0755",
				"mkdir /r/etc/deep/er 0755",
				"mount /host/src on /r/etc/deep/er MS_BIND",
			},
		},
		{
			// As runc: the link is followed inside the root and its target
			// made there; "/.." and absolute targets stop at the root.
			name:  "a dangling symlink as destination is followed inside the root",
			files: []string{"d:/host/src", "l:/r/dangling=/../../nowhere", "l:/r/rel=sub/x"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/src", Destination: "/dangling", Type: "bind", Flags: unix.MS_BIND},
				{Source: "/host/src", Destination: "/rel/deeper", Type: "bind", Flags: unix.MS_BIND}}},
			filter: []string{"mount /host/src", "mkdir"},
			want: []string{
				"mkdir /r/dev 0755",
				"mkdir /r/nowhere 0755",
				"mount /host/src on /r/nowhere MS_BIND",
				"mkdir /r/sub 0755",
				"mkdir /r/sub/x 0755",
				"mkdir /r/sub/x/deeper 0755",
				"mount /host/src on /r/sub/x/deeper MS_BIND",
			},
		},
		{
			name:  "a symlink loop as destination is refused",
			files: []string{"d:/host/src", "l:/r/a=/b", "l:/r/b=/a"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/src", Destination: "/a", Type: "bind", Flags: unix.MS_BIND}}},
			wantErr: `mounts[1]: open "/a": too many levels of symbolic links`,
		},
		{
			name:  "a file where a directory is needed",
			files: []string{"d:/host/src", "f:/r/data"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/src", Destination: "/data", Type: "bind", Flags: unix.MS_BIND}}},
			wantErr: `mounts[1]: "/data" is not a directory`,
		},
		{
			name:  "propagation and recursive attributes",
			files: []string{"d:/host/src", "d:/r"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "/host/src", Destination: "/v", Type: "bind", Flags: unix.MS_BIND | unix.MS_REC,
					Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED},
					RecAttrSet:  unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOATIME, RecAttrClr: unix.MOUNT_ATTR_NOSUID}}},
			filter: []string{"mount none on /r/v", "mount_setattr"},
			want: []string{
				"mount none on /r/v MS_REC|MS_PRIVATE",
				"mount none on /r/v MS_SHARED",
				"mount_setattr /r/v set=0x11 clr=0x72 recursive",
			},
		},
		{
			name:  "user namespace: devices are binds, sysfs falls back to an rbind of /sys",
			files: []string{"d:/r/dev", "d:/r/sys"},
			cfg: config.Config{
				Namespaces: []config.Namespace{{Type: config.NSUser}, {Type: config.NSMount}},
				Mounts: []config.Mount{
					{Source: "sysfs", Destination: "/sys", Type: "sysfs", Flags: nsnd | unix.MS_NOEXEC | unix.MS_RDONLY},
				},
			},
			fail: func(op string) error {
				if strings.HasPrefix(op, "mount sysfs") {
					return unix.EPERM
				}
				return nil
			},
			filter: []string{"mount", "mknod", "create /r/dev/null"},
			want: append(base,
				"mount sysfs on /r/sys type sysfs MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC = operation not permitted",
				"mount /sys on /r/sys MS_BIND|MS_REC",
				"mount none on /r/sys MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"create /r/dev/null",
				"mount /dev/null on /r/dev/null MS_BIND",
				"mount /dev/zero on /r/dev/zero MS_BIND",
				"mount /dev/full on /r/dev/full MS_BIND",
				"mount /dev/random on /r/dev/random MS_BIND",
				"mount /dev/urandom on /r/dev/urandom MS_BIND",
				"mount /dev/tty on /r/dev/tty MS_BIND",
			),
		},
		{
			name:  "cgroup on a hybrid host without a cgroup namespace: binds of the own cgroups",
			files: []string{"d:/r/sys", "d:/sys/fs/cgroup/cpu,cpuacct/capsa/c1", "d:/sys/fs/cgroup/memory/capsa/c1", "d:/sys/fs/cgroup/systemd", "d:/sys/fs/cgroup/unified/capsa/c1"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Flags: nsnd | unix.MS_NOEXEC | unix.MS_RDONLY}}},
			filter: []string{"mount tmpfs", "mount /sys", "mount none on /r/sys", "symlink"},
			want: []string{
				"mount tmpfs on /r/sys/fs/cgroup type tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=755",
				"mount /sys/fs/cgroup/cpu,cpuacct/capsa/c1 on /r/sys/fs/cgroup/cpu,cpuacct MS_BIND|MS_REC",
				"mount none on /r/sys/fs/cgroup/cpu,cpuacct MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"symlink /r/sys/fs/cgroup/cpu -> cpu,cpuacct",
				"symlink /r/sys/fs/cgroup/cpuacct -> cpu,cpuacct",
				"mount /sys/fs/cgroup/memory/capsa/c1 on /r/sys/fs/cgroup/memory MS_BIND|MS_REC",
				"mount none on /r/sys/fs/cgroup/memory MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"mount /sys/fs/cgroup/systemd on /r/sys/fs/cgroup/systemd MS_BIND|MS_REC",
				"mount none on /r/sys/fs/cgroup/systemd MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"mount /sys/fs/cgroup/unified/capsa/c1 on /r/sys/fs/cgroup/unified MS_BIND|MS_REC",
				"mount none on /r/sys/fs/cgroup/unified MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"mount none on /r/sys/fs/cgroup MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT mode=755",
			},
		},
		{
			name:  "cgroup on a hybrid host in a cgroup namespace: fresh mounts",
			files: []string{"d:/r/sys"},
			cfg: config.Config{
				Namespaces: []config.Namespace{{Type: config.NSCgroup}, {Type: config.NSMount}},
				Mounts: []config.Mount{devBind(),
					{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Flags: nsnd | unix.MS_NOEXEC}}},
			filter: []string{"mount tmpfs", "mount cgroup", "mount none on /r/sys"},
			want: []string{
				"mount tmpfs on /r/sys/fs/cgroup type tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=755",
				"mount cgroup on /r/sys/fs/cgroup/cpu,cpuacct type cgroup MS_NOSUID|MS_NODEV|MS_NOEXEC cpu,cpuacct",
				"mount cgroup on /r/sys/fs/cgroup/memory type cgroup MS_NOSUID|MS_NODEV|MS_NOEXEC memory",
				"mount cgroup on /r/sys/fs/cgroup/systemd type cgroup MS_NOSUID|MS_NODEV|MS_NOEXEC xattr,name=systemd",
				"mount cgroup2 on /r/sys/fs/cgroup/unified type cgroup2 MS_NOSUID|MS_NODEV|MS_NOEXEC",
			},
		},
		{
			name:  "cgroup2 without a cgroup namespace binds the own cgroup2 directory",
			files: []string{"d:/r/sys", "d:/sys/fs/cgroup/unified/capsa/c1"},
			cfg: config.Config{Mounts: []config.Mount{devBind(),
				{Source: "cgroup2", Destination: "/sys/fs/cgroup", Type: "cgroup2", Flags: nsnd | unix.MS_NOEXEC}}},
			filter: []string{"mount /sys", "mount none on /r/sys"},
			want: []string{
				"mount /sys/fs/cgroup/unified/capsa/c1 on /r/sys/fs/cgroup MS_BIND|MS_REC",
				"mount none on /r/sys/fs/cgroup MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
			},
		},
		{
			name:  "idmapped bind: clone, map, attach",
			files: []string{"d:/host/src", "d:/r"},
			cfg: config.Config{
				UIDMappings: []config.IDMap{{ContainerID: 0, HostID: 1000, Size: 10}},
				GIDMappings: []config.IDMap{{ContainerID: 0, HostID: 1000, Size: 10}},
				Mounts: []config.Mount{devBind(),
					{Source: "/host/src", Destination: "/m", Type: "bind", Flags: unix.MS_BIND | unix.MS_REC, IDMapped: true, IDMapRec: true}}},
			filter: []string{"open_tree", "new", "mount_setattr", "move_mount"},
			want: []string{
				"open_tree /host/src recursive",
				"new userns([{0 1000 10}]/[{0 1000 10}])",
				"mount_setattr tree:/host/src set=0x100000 clr=0x0 userns=userns([{0 1000 10}]/[{0 1000 10}]) recursive",
				"move_mount tree:/host/src on /r/m",
			},
		},
		{
			name:  "idmapped bind in a user namespace is not supported yet",
			files: []string{"d:/host/src", "d:/r"},
			cfg: config.Config{
				Namespaces: []config.Namespace{{Type: config.NSUser}, {Type: config.NSMount}},
				Mounts: []config.Mount{devBind(),
					{Source: "/host/src", Destination: "/m", Type: "bind", Flags: unix.MS_BIND, IDMapped: true}}},
			wantErr: `mounts[1]: idmapped bind of "/host/src": not supported for a container with a user namespace yet`,
		},
		{
			// rshared applies to the container's root after pivot_root
			// (TestEnter); until then "/" is a slave of the host's.
			name:  "rshared root: / is still made rslave first",
			files: []string{"d:/data/r"},
			cfg: config.Config{Rootfs: "/data/r", RootPropagation: unix.MS_SHARED | unix.MS_REC,
				Mounts: []config.Mount{devBind()}},
			filter: []string{"mount none", "mount /data"},
			want: []string{
				"mount none on / MS_REC|MS_SLAVE",
				"mount /data/r on /data/r MS_BIND|MS_REC",
			},
		},
		{
			name:  "rprivate root: / is made rprivate",
			files: []string{"d:/data/r"},
			cfg: config.Config{Rootfs: "/data/r", RootPropagation: unix.MS_PRIVATE | unix.MS_REC,
				Mounts: []config.Mount{devBind()}},
			filter: []string{"mount none", "mount /data"},
			want: []string{
				"mount none on / MS_REC|MS_PRIVATE",
				"mount /data/r on /data/r MS_BIND|MS_REC",
			},
		},
		{
			name:   "console",
			files:  []string{"d:/r/dev"},
			cfg:    config.Config{Mounts: []config.Mount{devBind()}},
			opt:    Options{ConsolePath: "/dev/pts/7"},
			filter: []string{"create", "mount /dev/pts"},
			want: []string{
				"create /r/dev/console",
				"mount /dev/pts/7 on /r/dev/console MS_BIND",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake().add(tt.files...)
			f.add("d:/host/dev", "c:/dev/null=1:3", "d:/sys")
			for k, v := range hybrid {
				f.files0[k] = v
			}
			f.files0["/proc/self/mountinfo"] += "50 27 254:0 / /data rw shared:5 - ext4 /dev/vdb rw\n"
			for k, v := range tt.statfs {
				f.statfs[k] = v
			}
			f.fail = tt.fail
			c := tt.cfg
			if c.Rootfs == "" {
				c.Rootfs = "/r"
				f.add("d:/r")
			}
			if c.Namespaces == nil {
				c.Namespaces = []config.Namespace{{Type: config.NSMount}}
			}
			err := Prepare(f, &c, tt.opt)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got  %v\n want %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Prepare: %v\nops:\n%s", err, strings.Join(f.ops, "\n"))
			} else {
				got := f.ops
				if tt.filter != nil {
					got = only(got, tt.filter...)
				}
				diff(t, got, tt.want)
			}
			if len(f.fds) != 0 {
				t.Errorf("fds left open: %v", f.fds)
			}
		})
	}
}

func TestEnter(t *testing.T) {
	mountinfo := `27 1 254:0 / / rw - ext4 /dev/vda rw
22 27 0:21 / /proc rw - proc proc rw
24 27 0:6 / /dev rw - devtmpfs devtmpfs rw
26 24 0:24 / /dev/pts rw - devpts devpts rw
60 27 254:0 /r /r rw - ext4 /dev/vda rw
61 60 0:50 / /r/proc rw - proc proc rw
`
	tests := []struct {
		name string
		opt  Options
		prop uintptr
		want []string
		ns   []config.Namespace
	}{
		{"pivot_root", Options{}, 0, []string{
			"fchdir /r",
			"pivot_root /r /r",
			"fchdir /",
			"mount none on / MS_REC|MS_SLAVE", // the old root, now our cwd
			"umount / 0x2",
			"chdir /r",
		}, nil},
		{"pivot_root, unbindable root", Options{}, unix.MS_UNBINDABLE, []string{
			"fchdir /r",
			"pivot_root /r /r",
			"fchdir /",
			"mount none on / MS_REC|MS_SLAVE",
			"umount / 0x2",
			"chdir /r",
			"mount none on /r MS_UNBINDABLE", // rootfsPropagation, on the new root (host path /r)
		}, nil},
		// Sharing the caller's mount namespace: chroot alone, whatever
		// --no-pivot says: pivot_root and MS_MOVE would move the host's
		// root.
		{"no mount namespace", Options{NoPivot: true}, 0, []string{
			"chdir /r",
			"chroot /r",
			"chdir /r",
		}, []config.Namespace{{Type: config.NSPID}}},
		{"no pivot", Options{NoPivot: true}, 0, []string{
			"umount /dev 0x2",
			"umount /proc 0x2",
			"umount /dev/pts 0x2", // already gone with /dev in the kernel: EINVAL, ignored
			"chdir /r",
			"mount /r on / MS_MOVE",
			"chroot /r",
			"chdir /r",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake().add("d:/r/proc")
			f.files0["/proc/self/mountinfo"] = mountinfo
			c := &config.Config{Rootfs: "/r", RootPropagation: tt.prop, Namespaces: tt.ns}
			if c.Namespaces == nil {
				c.Namespaces = []config.Namespace{{Type: config.NSMount}}
			}
			if err := Enter(f, c, tt.opt); err != nil {
				t.Fatal(err)
			}
			diff(t, f.ops, tt.want)
			if f.root != "/r" || f.cwd != "/r" {
				t.Errorf("root %q cwd %q, want both /r", f.root, f.cwd)
			}
			if len(f.fds) != 0 {
				t.Errorf("fds left open: %v", f.fds)
			}
		})
	}
}

func TestFinalize(t *testing.T) {
	procFiles := []string{"d:/r/proc/sys", "f:/r/proc/kcore", "d:/r/proc/acpi", "f:/r/proc/sysrq-trigger"}
	tests := []struct {
		name    string
		files   []string
		cfg     config.Config
		want    []string
		wantErr string
	}{
		{
			name:  "readonly, masked file and dir, missing skipped, read-only root",
			files: append([]string{"c:/r/dev/null=1:3"}, procFiles...),
			cfg: config.Config{
				ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/nope"},
				MaskedPaths:   []string{"/proc/kcore", "/proc/acpi", "/proc/timer_list", "/nope/deeper"},
				RootReadonly:  true,
			},
			want: []string{
				"open_tree /r/proc/sys recursive",
				"mount_setattr tree:/r/proc/sys set=0x1 clr=0x0 recursive",
				"move_mount tree:/r/proc/sys on /r/proc/sys",
				"open_tree /r/proc/sysrq-trigger recursive",
				"mount_setattr tree:/r/proc/sysrq-trigger set=0x1 clr=0x0 recursive",
				"move_mount tree:/r/proc/sysrq-trigger on /r/proc/sysrq-trigger",
				"open_tree /r/dev/null",
				"move_mount tree:/r/dev/null on /r/proc/kcore",
				"fsmount fs:tmpfs attrs=0xf",
				"move_mount mnt:fs:tmpfs on /r/proc/acpi",
				"mount_setattr /r set=0x1 clr=0x0",
			},
		},
		{
			name:    "a /dev/null symlinked to a host file is refused (CVE-2025-31133)",
			files:   append([]string{"f:/host/secret", "l:/r/dev/null=/host/secret", "f:/r/host/secret"}, procFiles...),
			cfg:     config.Config{MaskedPaths: []string{"/proc/acpi", "/proc/kcore"}},
			wantErr: `linux.maskedPaths[1]: mask "/proc/kcore": /dev/null in the container is a symlink (or under one): refusing to mask with it`,
		},
		{
			name:    "a /dev/null that is a regular file is refused",
			files:   append([]string{"f:/r/dev/null"}, procFiles...),
			cfg:     config.Config{MaskedPaths: []string{"/proc/kcore"}},
			wantErr: `linux.maskedPaths[0]: mask "/proc/kcore": /dev/null in the container is not the null device (char 1:3; mode 0100000, rdev 0:0): refusing to mask with it`,
		},
		{
			name:    "a /dev/null that is another char device is refused",
			files:   append([]string{"c:/r/dev/null=1:5"}, procFiles...),
			cfg:     config.Config{MaskedPaths: []string{"/proc/kcore"}},
			wantErr: `linux.maskedPaths[0]: mask "/proc/kcore": /dev/null in the container is not the null device (char 1:3; mode 020000, rdev 1:5): refusing to mask with it`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake().add(tt.files...)
			f.root, f.cwd = "/r", "/r"
			err := Finalize(f, &tt.cfg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got  %v\n want %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				diff(t, f.ops, tt.want)
			}
			if len(f.fds) != 0 {
				t.Errorf("fds left open: %v", f.fds)
			}
		})
	}
}

func TestDevptsData(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "newinstance,ptmxmode=0666"},
		{"mode=0620,gid=5", "mode=0620,gid=5,newinstance,ptmxmode=0666"},
		{"newinstance,ptmxmode=0600", "newinstance,ptmxmode=0600"},
	} {
		if got := devptsData(tt.in); got != tt.want {
			t.Errorf("devptsData(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMountInfo(t *testing.T) {
	ms := parseMountInfo([]byte("36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"))
	if len(ms) != 1 {
		t.Fatalf("got %d mounts", len(ms))
	}
	m := ms[0]
	if m.Root != "/mnt1" || m.Mountpoint != "/mnt x" || m.FSType != "ext3" || strings.Join(m.Optional, " ") != "master:1 shared:2" || m.SuperOpts != "rw,errors=continue" {
		t.Errorf("parsed %+v", m)
	}
}
