// Package config is capsa-runtime's validated container configuration.
//
// The OCI config.json is read and checked exactly once, at the boundary
// (FromSpec). Everything deeper in the runtime reads a *Config: paths are
// clean and absolute, enums are typed, mount options are parsed into flags,
// and there are no nil pointers to chase. Errors name the config.json field
// at fault, e.g. `linux.namespaces[2].type: unknown namespace type "foo"`.
package config

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config is a container's configuration after validation.
type Config struct {
	// OCIVersion is the spec's ociVersion, reported in the state.
	OCIVersion string
	// Bundle is the absolute path of the bundle directory.
	Bundle string
	// Rootfs is the absolute host path of the root filesystem.
	Rootfs string
	// RootReadonly remounts the root read-only after setup.
	RootReadonly bool
	// RootPropagation is the propagation applied to / inside the container
	// (MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE, maybe with MS_REC),
	// or 0 for the default (rslave, as runc).
	RootPropagation uintptr

	Hostname   string
	Domainname string

	// Namespaces lists the namespaces the container gets, at most one per
	// type; a non-empty Path means join it rather than create one.
	Namespaces  []Namespace
	UIDMappings []IDMap
	GIDMappings []IDMap
	// TimeOffsets applies to a new time namespace.
	TimeOffsets []TimeOffset

	Mounts  []Mount
	Devices []Device

	MaskedPaths   []string
	ReadonlyPaths []string
	// Sysctl keys in dotted form ("net.ipv4.ip_forward").
	Sysctl map[string]string

	Process Process
	Hooks   Hooks

	// CgroupsPath is the raw linux.cgroupsPath; the cgroup package resolves it.
	CgroupsPath string
	Resources   *specs.LinuxResources
	// Seccomp is checked by the seccomp package's compiler at create time.
	Seccomp *specs.LinuxSeccomp

	// Personality is the execution domain (PER_LINUX, PER_LINUX32), or -1.
	Personality int
	// IntelRdt etc. are refused at validation time.

	Annotations map[string]string
}

// NSType is a namespace kind as named in config.json.
type NSType string

// The namespace types of runtime-spec.
const (
	NSMount  NSType = "mount"
	NSUTS    NSType = "uts"
	NSIPC    NSType = "ipc"
	NSPID    NSType = "pid"
	NSNet    NSType = "network"
	NSUser   NSType = "user"
	NSCgroup NSType = "cgroup"
	NSTime   NSType = "time"
)

// Namespace is one namespace of the container.
type Namespace struct {
	Type NSType
	// Path of a namespace file to join; empty to create a new namespace.
	Path string
}

// IDMap is one line of a uid_map or gid_map.
type IDMap struct {
	ContainerID uint32
	HostID      uint32
	Size        uint32
}

// TimeOffset is one line of /proc/PID/timens_offsets.
type TimeOffset struct {
	Clock string // "monotonic" or "boottime"
	Secs  int64
	Nsecs uint32
}

// Mount is one entry of config.json's mounts, parsed.
type Mount struct {
	// Source is the host path for binds (absolute, resolved against the
	// bundle when relative) or the device/fs name otherwise.
	Source string
	// Destination is absolute and clean, inside the container.
	Destination string
	Type        string
	// Flags are MS_* flags passed to mount(2) (MS_BIND, MS_RDONLY, ...).
	Flags uintptr
	// ClearedFlags are flags the options explicitly turned off ("rw",
	// "suid", ...), kept so that a bind remount does not lose locked flags.
	ClearedFlags uintptr
	// Propagation are MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (maybe
	// with MS_REC), applied one by one after the mount.
	Propagation []uintptr
	// Data is the fs-specific option string ("mode=755,size=65536k").
	Data string
	// RecAttrSet/RecAttrClr are MOUNT_ATTR_* applied recursively with
	// mount_setattr(2) for the "rro", "rnosuid", ... options.
	RecAttrSet uint64
	RecAttrClr uint64
	// IDMapped mounts (options "idmap"/"ridmap", or uidMappings in the mount).
	IDMapped    bool
	IDMapRec    bool
	UIDMappings []IDMap
	GIDMappings []IDMap
}

// IsBind reports whether m is a bind mount.
func (m *Mount) IsBind() bool { return m.Flags&msBind != 0 }

// Device is a device node to create in the container's /dev.
type Device struct {
	Path     string // absolute, under /dev
	Type     rune   // 'c', 'b', 'p' (also 'u' for unbuffered char)
	Major    int64
	Minor    int64
	FileMode uint32 // permission bits; 0 means 0666
	UID      uint32
	GID      uint32
}

// Process is the container's main process (or an exec'd one).
type Process struct {
	Terminal    bool
	ConsoleRows uint16
	ConsoleCols uint16

	UID            uint32
	GID            uint32
	AdditionalGids []uint32
	// Umask is -1 when unset (the runtime then uses 0022).
	Umask int

	Args []string
	Env  []string
	Cwd  string

	Capabilities Capabilities
	Rlimits      []Rlimit

	NoNewPrivileges bool
	// OOMScoreAdj is nil when unset.
	OOMScoreAdj *int

	ApparmorProfile string
	SelinuxLabel    string

	// IOPriority, scheduler and CPU affinity are optional (spec 1.2).
	IOPriority      *specs.LinuxIOPriority
	Scheduler       *specs.Scheduler
	ExecCPUAffinity *specs.CPUAffinity
}

// Capabilities are the five capability sets as bit masks (bit n = cap n).
type Capabilities struct {
	Bounding    uint64
	Effective   uint64
	Inheritable uint64
	Permitted   uint64
	Ambient     uint64
}

// Rlimit is one resource limit.
type Rlimit struct {
	Resource int
	Name     string
	Soft     uint64
	Hard     uint64
}

// Hooks are the lifecycle hooks, in the order the spec lists them.
type Hooks struct {
	Prestart        []Hook
	CreateRuntime   []Hook
	CreateContainer []Hook
	StartContainer  []Hook
	Poststart       []Hook
	Poststop        []Hook
}

// Hook is one hook command.
type Hook struct {
	Path    string
	Args    []string
	Env     []string
	Timeout int // seconds; 0 means none
}

// Has reports whether the config has a namespace of type t, and its path.
func (c *Config) Has(t NSType) (path string, ok bool) {
	for _, ns := range c.Namespaces {
		if ns.Type == t {
			return ns.Path, true
		}
	}
	return "", false
}

// NewNamespace reports whether the container gets a new namespace of type t.
func (c *Config) NewNamespace(t NSType) bool {
	p, ok := c.Has(t)
	return ok && p == ""
}
