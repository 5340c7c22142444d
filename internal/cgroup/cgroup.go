// Package cgroup places a container's processes in their cgroup and
// controls the resources they may use, on cgroup v1, v2 and the hybrid
// layout of both.
//
// One Manager covers every layout. On a legacy or hybrid host each v1
// hierarchy (cpu, memory, pids, name=systemd, ...) gets the container's
// cgroup and resources go through the v1 controllers; on a hybrid host the
// process is also placed in the v2 hierarchy, whose core files (cgroup.kill,
// cgroup.freeze) serve kill and freeze where v1 has no equivalent. On a
// unified host everything goes through v2. Limits that name a controller
// this host does not have are refused with an error, never silently
// dropped.
//
// capsa's cgroups live under a parent of its own ("/capsa"): an empty or
// relative linux.cgroupsPath goes there, not under the caller's cgroup as
// runc would put it. Destroy removes only the levels Apply created.
//
// The v1/v2 mapping of runtime-spec's linux.resources is the table in
// doc.go.
package cgroup

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultParent is the cgroup under which empty and relative cgroupsPaths
// are placed.
const DefaultParent = "/capsa"

// Manager is a container's cgroup.
type Manager interface {
	// Create makes the cgroup in every hierarchy, with the parent levels
	// it needs; Destroy removes what it made.
	Create() error
	// Placement tells a new process how to enter the cgroup by itself,
	// which is much cheaper than being moved (see Placement).
	Placement() Placement
	// Apply makes sure pid is in the cgroup in every hierarchy, moving it
	// where it did not enter by itself.
	Apply(pid int) error
	// Set applies resource limits; only the fields set in r change.
	Set(r *specs.LinuxResources) error
	// Freeze stops every process of the cgroup and returns once they all
	// are frozen; Thaw lets them run again.
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
	FreezerState() (FreezerState, error)
	// Kill sends sig to every process in the cgroup and its descendants.
	Kill(sig unix.Signal) error
	// Procs lists the pids of every process in the cgroup and below.
	Procs() ([]int, error)
	// Stats reads the resource usage.
	Stats() (*Stats, error)
	// OOMEvents delivers a value for each OOM kill in the cgroup until ctx
	// ends or the cgroup is removed; then the channel is closed.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// Destroy removes the cgroup and every parent level Apply created, once
	// they are empty. It waits a short while for dying processes to leave.
	Destroy(ctx context.Context) error
	// State is what Load needs to find the cgroup again.
	State() State
}

// Placement is how a new process enters its cgroup without being moved
// by another process. A move by pid (cgroup.procs) takes the kernel's
// global cgroup_threadgroup_rwsem for writing, which waits for an RCU
// grace period when none is under way: measured here, 11 to 22 ms for the
// first move of a container, most of the time a runc-style start takes.
// Two ways skip that lock: a single-threaded process writing "0" (itself)
// to a v1 hierarchy's "tasks" file, and clone3's CLONE_INTO_CGROUP for the
// v2 hierarchy. The runtime's C stage does the first before the Go runtime
// starts any thread; the spawn does the second. Apply then moves only what
// did not get there this way.
type Placement struct {
	// V1Tasks are the "tasks" files of the cgroup in each v1 hierarchy.
	V1Tasks []string
	// V2 is the cgroup's directory in the v2 hierarchy, or "".
	V2 string
}

// FreezerState is the state of a cgroup's freezer.
type FreezerState string

// The freezer states, with v1's names.
const (
	Thawed   FreezerState = "THAWED"
	Freezing FreezerState = "FREEZING"
	Frozen   FreezerState = "FROZEN"
)

// Config is what New needs.
type Config struct {
	// Path is the cgroup's path inside each hierarchy, as ResolvePath
	// returns it.
	Path string
	// Resources are the container's limits, checked against the host's
	// controllers before anything is created.
	Resources *specs.LinuxResources
}

// State records a container's cgroup in the runtime's state file.
type State struct {
	// Path is the cgroup path inside each hierarchy ("/capsa/ID").
	Path string `json:"path"`
	// V1 maps each v1 controller ("memory", "cpu", "name=systemd") to the
	// cgroup's directory in the hierarchy that has it.
	V1 map[string]string `json:"v1,omitempty"`
	// V2 is the cgroup's directory in the v2 hierarchy, if the host has one.
	V2 string `json:"v2,omitempty"`
	// V2Controllers says whether resources go through v2 (a unified host)
	// rather than v1.
	V2Controllers bool `json:"v2Controllers,omitempty"`
	// Created is, for each directory in V1 and V2, the top-most level that
	// Apply created: Destroy removes the levels from the leaf up to it.
	Created map[string]string `json:"created,omitempty"`
}

// ResolvePath turns linux.cgroupsPath into the cgroup path used in every
// hierarchy: empty means DefaultParent/id, a relative path is placed under
// DefaultParent, and an absolute path is taken as it is.
func ResolvePath(cgroupsPath, id string) (string, error) {
	if cgroupsPath == "" {
		return path.Join(DefaultParent, id), nil
	}
	for _, el := range strings.Split(cgroupsPath, "/") {
		if el == ".." {
			return "", fmt.Errorf("%q: \"..\" is not allowed", cgroupsPath)
		}
	}
	if strings.ContainsRune(cgroupsPath, 0) {
		return "", fmt.Errorf("%q: contains a NUL byte", cgroupsPath)
	}
	p := cgroupsPath
	if !path.IsAbs(p) {
		p = path.Join(DefaultParent, p)
	}
	p = path.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("%q: the root cgroup cannot hold a container", cgroupsPath)
	}
	return p, nil
}

// New returns a manager for a new cgroup at c.Path. It checks that the
// host has a controller for every limit in c.Resources and that the path
// is not inside the caller's own cgroup; nothing is created until Apply.
func New(c Config) (Manager, error) {
	hs, err := hostHierarchies()
	if err != nil {
		return nil, err
	}
	if len(hs.v1) == 0 && hs.v2 == "" {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	if err := checkNotInOwn(c.Path); err != nil {
		return nil, err
	}
	m := &manager{st: State{Path: c.Path, V1: map[string]string{}, Created: map[string]string{}}}
	for ctrl, mnt := range hs.v1 {
		m.st.V1[ctrl] = path.Join(mnt, c.Path)
	}
	if hs.v2 != "" {
		m.st.V2 = path.Join(hs.v2, c.Path)
		m.st.V2Controllers = len(hs.v1) == 0
	}
	if c.Resources != nil {
		if err := m.check(c.Resources); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Load returns the manager of an existing cgroup from its recorded state.
func Load(s State) (Manager, error) {
	if s.Path == "" {
		return nil, errors.New("no cgroup recorded for this container")
	}
	return &manager{st: s}, nil
}

// checkNotInOwn refuses a cgroup path at or below the calling process's
// own cgroup in a hierarchy where that is not the root: the caller's
// cgroup belongs to whoever started it (a supervisor, a session), and
// capsa must not nest containers there nor remove anything from it.
func checkNotInOwn(p string) error {
	own, err := ownCgroups()
	if err != nil {
		return err
	}
	for ctrl, cg := range own {
		if cg == "/" || cg == "" {
			continue
		}
		if p == cg || strings.HasPrefix(p, cg+"/") {
			return fmt.Errorf("cgroup %q is inside the runtime's own cgroup %q (%s hierarchy), which capsa does not manage: use a path outside it", p, cg, ctrl)
		}
	}
	return nil
}
