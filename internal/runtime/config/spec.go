package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/caps"
	"github.com/capsa-dev/capsa/internal/errdefs"
)

// maxSpecSize bounds config.json: a stranger's file is read into memory.
const maxSpecSize = 16 << 20

// LoadSpec reads and decodes bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	f, err := os.Open(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Sprintf("bundle %q: no config.json (is --bundle right?)", bundle))
		}
		return nil, fmt.Errorf("bundle %q: %w", bundle, err)
	}
	defer f.Close()
	return DecodeSpec(f)
}

// DecodeSpec decodes a config.json document.
func DecodeSpec(r io.Reader) (*specs.Spec, error) {
	var s specs.Spec
	dec := json.NewDecoder(io.LimitReader(r, maxSpecSize))
	if err := dec.Decode(&s); err != nil {
		return nil, errdefs.Invalid(fmt.Sprintf("config.json: %v", jsonError(err)))
	}
	return &s, nil
}

func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

// fieldErr is a validation error naming a config.json field.
func fieldErr(field, format string, args ...any) error {
	return errdefs.Invalid(field + ": " + fmt.Sprintf(format, args...))
}

// FromSpec validates s (read from bundle) and converts it.
func FromSpec(bundle string, s *specs.Spec) (*Config, error) {
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", bundle, err)
	}
	if s.Version == "" {
		return nil, fieldErr("ociVersion", "missing")
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return nil, fieldErr("ociVersion", "unsupported version %q (capsa implements 1.x)", s.Version)
	}
	c := &Config{
		OCIVersion:  s.Version,
		Bundle:      bundle,
		Hostname:    s.Hostname,
		Domainname:  s.Domainname,
		Annotations: s.Annotations,
		Personality: -1,
		Sysctl:      map[string]string{},
	}
	if err := c.setRoot(s.Root); err != nil {
		return nil, err
	}
	if s.Process == nil {
		return nil, fieldErr("process", "missing")
	}
	p, err := ProcessFromSpec(s.Process, "process")
	if err != nil {
		return nil, err
	}
	c.Process = *p
	if err := c.setMounts(s.Mounts); err != nil {
		return nil, err
	}
	if err := c.setHooks(s.Hooks); err != nil {
		return nil, err
	}
	if s.Linux == nil {
		return nil, fieldErr("linux", "missing (capsa-runtime runs Linux containers)")
	}
	if err := c.setLinux(s.Linux); err != nil {
		return nil, err
	}
	if c.Hostname != "" && !c.NewNamespace(NSUTS) {
		if _, ok := c.Has(NSUTS); !ok {
			return nil, fieldErr("hostname", "set without a uts namespace in linux.namespaces")
		}
	}
	if c.Domainname != "" {
		if _, ok := c.Has(NSUTS); !ok {
			return nil, fieldErr("domainname", "set without a uts namespace in linux.namespaces")
		}
	}
	return c, nil
}

func (c *Config) setRoot(r *specs.Root) error {
	if r == nil || r.Path == "" {
		return fieldErr("root.path", "missing")
	}
	p := r.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Bundle, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fieldErr("root.path", "%q: %v", r.Path, unwrapPathErr(err))
	}
	st, err := os.Stat(real)
	if err != nil {
		return fieldErr("root.path", "%q: %v", r.Path, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return fieldErr("root.path", "%q is not a directory", r.Path)
	}
	c.Rootfs = real
	c.RootReadonly = r.Readonly
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ProcessFromSpec validates a process object; field names errors
// ("process" for config.json, "" for an exec --process file).
func ProcessFromSpec(sp *specs.Process, field string) (*Process, error) {
	f := func(sub string) string {
		if field == "" {
			return sub
		}
		return field + "." + sub
	}
	if len(sp.Args) == 0 && sp.CommandLine == "" {
		return nil, fieldErr(f("args"), "missing: the process needs a command")
	}
	if sp.Cwd == "" {
		return nil, fieldErr(f("cwd"), "missing")
	}
	if !filepath.IsAbs(sp.Cwd) {
		return nil, fieldErr(f("cwd"), "%q is not an absolute path", sp.Cwd)
	}
	p := &Process{
		Terminal:        sp.Terminal,
		UID:             sp.User.UID,
		GID:             sp.User.GID,
		AdditionalGids:  sp.User.AdditionalGids,
		Umask:           -1,
		Args:            sp.Args,
		Env:             sp.Env,
		Cwd:             filepath.Clean(sp.Cwd),
		NoNewPrivileges: sp.NoNewPrivileges,
		OOMScoreAdj:     sp.OOMScoreAdj,
		ApparmorProfile: sp.ApparmorProfile,
		SelinuxLabel:    sp.SelinuxLabel,
		IOPriority:      sp.IOPriority,
		Scheduler:       sp.Scheduler,
		ExecCPUAffinity: sp.ExecCPUAffinity,
	}
	if sp.User.Umask != nil {
		p.Umask = int(*sp.User.Umask & 0o777)
	}
	if sp.ConsoleSize != nil {
		p.ConsoleRows, p.ConsoleCols = uint16(sp.ConsoleSize.Height), uint16(sp.ConsoleSize.Width)
	}
	for i, e := range sp.Env {
		if !strings.Contains(e, "=") {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", f("env"), i), "%q is not KEY=value", e)
		}
	}
	if sp.Capabilities != nil {
		sets := []struct {
			name string
			list []string
			dst  *uint64
		}{
			{"bounding", sp.Capabilities.Bounding, &p.Capabilities.Bounding},
			{"effective", sp.Capabilities.Effective, &p.Capabilities.Effective},
			{"inheritable", sp.Capabilities.Inheritable, &p.Capabilities.Inheritable},
			{"permitted", sp.Capabilities.Permitted, &p.Capabilities.Permitted},
			{"ambient", sp.Capabilities.Ambient, &p.Capabilities.Ambient},
		}
		for _, s := range sets {
			for i, name := range s.list {
				n, err := caps.Parse(name)
				if err != nil {
					return nil, fieldErr(fmt.Sprintf("%s.%s[%d]", f("capabilities"), s.name, i), "%v", err)
				}
				// Capabilities newer than the running kernel are ignored,
				// as runc does: a spec may be written for a newer kernel.
				if n <= caps.Last() {
					*s.dst |= 1 << n
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, rl := range sp.Rlimits {
		fld := fmt.Sprintf("%s[%d]", f("rlimits"), i)
		res, ok := rlimitNames[rl.Type]
		if !ok {
			return nil, fieldErr(fld+".type", "unknown rlimit %q", rl.Type)
		}
		if seen[rl.Type] {
			return nil, fieldErr(fld+".type", "duplicate rlimit %q", rl.Type)
		}
		seen[rl.Type] = true
		if rl.Soft > rl.Hard {
			return nil, fieldErr(fld, "soft limit %d is above hard limit %d for %s", rl.Soft, rl.Hard, rl.Type)
		}
		p.Rlimits = append(p.Rlimits, Rlimit{Resource: res, Name: rl.Type, Soft: rl.Soft, Hard: rl.Hard})
	}
	if sp.OOMScoreAdj != nil && (*sp.OOMScoreAdj < -1000 || *sp.OOMScoreAdj > 1000) {
		return nil, fieldErr(f("oomScoreAdj"), "%d is outside [-1000, 1000]", *sp.OOMScoreAdj)
	}
	if sp.IOPriority != nil {
		switch sp.IOPriority.Class {
		case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
		default:
			return nil, fieldErr(f("ioPriority.class"), "unknown class %q", sp.IOPriority.Class)
		}
		if sp.IOPriority.Priority < 0 || sp.IOPriority.Priority > 7 {
			return nil, fieldErr(f("ioPriority.priority"), "%d is outside [0, 7]", sp.IOPriority.Priority)
		}
	}
	if sp.Scheduler != nil {
		if _, ok := schedPolicies[sp.Scheduler.Policy]; !ok {
			return nil, fieldErr(f("scheduler.policy"), "unknown policy %q", sp.Scheduler.Policy)
		}
	}
	return p, nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// SchedPolicies maps runtime-spec scheduler policy names to SCHED_* values.
var schedPolicies = map[specs.LinuxSchedulerPolicy]int{
	specs.SchedOther:    0,
	specs.SchedFIFO:     1,
	specs.SchedRR:       2,
	specs.SchedBatch:    3,
	specs.SchedISO:      4,
	specs.SchedIdle:     5,
	specs.SchedDeadline: 6,
}

// SchedPolicy returns the SCHED_* number of a policy name.
func SchedPolicy(p specs.LinuxSchedulerPolicy) int { return schedPolicies[p] }

func (c *Config) setMounts(ms []specs.Mount) error {
	for i, sm := range ms {
		fld := fmt.Sprintf("mounts[%d]", i)
		if sm.Destination == "" {
			return fieldErr(fld+".destination", "missing")
		}
		if strings.ContainsRune(sm.Destination, 0) || strings.ContainsRune(sm.Source, 0) {
			return fieldErr(fld, "path contains a NUL byte")
		}
		m := Mount{
			Source: sm.Source,
			// A relative destination is taken relative to / as runc does;
			// Clean also folds any "..", which cannot climb above "/".
			Destination: filepath.Clean("/" + sm.Destination),
			Type:        sm.Type,
		}
		parseMountOptions(&m, sm.Options)
		if m.Type == "bind" {
			m.Flags |= unix.MS_BIND
		}
		if m.Type == "" && !m.IsBind() {
			return fieldErr(fld+".type", "missing for non-bind mount of %q", sm.Destination)
		}
		if m.IsBind() {
			if m.Source == "" {
				return fieldErr(fld+".source", "missing for bind mount of %q", sm.Destination)
			}
			if !filepath.IsAbs(m.Source) {
				m.Source = filepath.Join(c.Bundle, m.Source)
			}
			m.Source = filepath.Clean(m.Source)
		}
		for _, um := range sm.UIDMappings {
			m.UIDMappings = append(m.UIDMappings, IDMap{um.ContainerID, um.HostID, um.Size})
		}
		for _, gm := range sm.GIDMappings {
			m.GIDMappings = append(m.GIDMappings, IDMap{gm.ContainerID, gm.HostID, gm.Size})
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			if !m.IDMapped {
				m.IDMapped = true
			}
			if len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0 {
				return fieldErr(fld, "an idmapped mount needs both uidMappings and gidMappings")
			}
			if !m.IsBind() {
				return fieldErr(fld, "idmapped mounts are only supported for bind mounts")
			}
		}
		c.Mounts = append(c.Mounts, m)
	}
	return nil
}

func (c *Config) setHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	conv := func(name string, in []specs.Hook) ([]Hook, error) {
		var out []Hook
		for i, sh := range in {
			fld := fmt.Sprintf("hooks.%s[%d]", name, i)
			if sh.Path == "" {
				return nil, fieldErr(fld+".path", "missing")
			}
			if !filepath.IsAbs(sh.Path) {
				return nil, fieldErr(fld+".path", "%q is not an absolute path", sh.Path)
			}
			hk := Hook{Path: sh.Path, Args: sh.Args, Env: sh.Env}
			if sh.Timeout != nil {
				if *sh.Timeout <= 0 {
					return nil, fieldErr(fld+".timeout", "%d is not a positive number of seconds", *sh.Timeout)
				}
				hk.Timeout = *sh.Timeout
			}
			out = append(out, hk)
		}
		return out, nil
	}
	var err error
	//lint:ignore SA1019 prestart is deprecated by the spec, and still what callers send.
	if c.Hooks.Prestart, err = conv("prestart", h.Prestart); err != nil {
		return err
	}
	if c.Hooks.CreateRuntime, err = conv("createRuntime", h.CreateRuntime); err != nil {
		return err
	}
	if c.Hooks.CreateContainer, err = conv("createContainer", h.CreateContainer); err != nil {
		return err
	}
	if c.Hooks.StartContainer, err = conv("startContainer", h.StartContainer); err != nil {
		return err
	}
	if c.Hooks.Poststart, err = conv("poststart", h.Poststart); err != nil {
		return err
	}
	if c.Hooks.Poststop, err = conv("poststop", h.Poststop); err != nil {
		return err
	}
	return nil
}

var nsTypes = map[specs.LinuxNamespaceType]NSType{
	specs.MountNamespace:   NSMount,
	specs.UTSNamespace:     NSUTS,
	specs.IPCNamespace:     NSIPC,
	specs.PIDNamespace:     NSPID,
	specs.NetworkNamespace: NSNet,
	specs.UserNamespace:    NSUser,
	specs.CgroupNamespace:  NSCgroup,
	specs.TimeNamespace:    NSTime,
}

func (c *Config) setLinux(l *specs.Linux) error {
	for i, ns := range l.Namespaces {
		fld := fmt.Sprintf("linux.namespaces[%d]", i)
		t, ok := nsTypes[ns.Type]
		if !ok {
			return fieldErr(fld+".type", "unknown namespace type %q", ns.Type)
		}
		if _, dup := c.Has(t); dup {
			return fieldErr(fld+".type", "duplicate %s namespace", t)
		}
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return fieldErr(fld+".path", "%q is not an absolute path", ns.Path)
			}
			if _, err := os.Stat(ns.Path); err != nil {
				return fieldErr(fld+".path", "%s namespace %q: %v", t, ns.Path, unwrapPathErr(err))
			}
		}
		c.Namespaces = append(c.Namespaces, Namespace{Type: t, Path: ns.Path})
	}
	userNS, hasUser := c.Has(NSUser)
	for _, m := range l.UIDMappings {
		c.UIDMappings = append(c.UIDMappings, IDMap{m.ContainerID, m.HostID, m.Size})
	}
	for _, m := range l.GIDMappings {
		c.GIDMappings = append(c.GIDMappings, IDMap{m.ContainerID, m.HostID, m.Size})
	}
	if (len(c.UIDMappings) > 0 || len(c.GIDMappings) > 0) && !hasUser {
		return fieldErr("linux.uidMappings", "id mappings given without a user namespace in linux.namespaces")
	}
	if hasUser && userNS == "" && (len(c.UIDMappings) == 0 || len(c.GIDMappings) == 0) {
		return fieldErr("linux.uidMappings", "a new user namespace needs both uidMappings and gidMappings")
	}
	if hasUser && userNS == "" {
		// The runtime becomes the new namespace's root to set it up.
		if !mapsID(c.UIDMappings, 0) {
			return fieldErr("linux.uidMappings", "container uid 0 is not mapped: the runtime sets the container up as its root")
		}
		if !mapsID(c.GIDMappings, 0) {
			return fieldErr("linux.gidMappings", "container gid 0 is not mapped: the runtime sets the container up as its root")
		}
	}
	if hasUser && userNS != "" && (len(c.UIDMappings) > 0 || len(c.GIDMappings) > 0) {
		return fieldErr("linux.uidMappings", "id mappings cannot be set when joining user namespace %q", userNS)
	}
	for name, off := range l.TimeOffsets {
		if !c.NewNamespace(NSTime) {
			return fieldErr("linux.timeOffsets", "set without a new time namespace in linux.namespaces")
		}
		if name != "monotonic" && name != "boottime" {
			return fieldErr("linux.timeOffsets", "unknown clock %q (want monotonic or boottime)", name)
		}
		c.TimeOffsets = append(c.TimeOffsets, TimeOffset{Clock: name, Secs: off.Secs, Nsecs: off.Nanosecs})
	}
	slices.SortFunc(c.TimeOffsets, func(a, b TimeOffset) int { return strings.Compare(a.Clock, b.Clock) })

	for i, d := range l.Devices {
		fld := fmt.Sprintf("linux.devices[%d]", i)
		if d.Path == "" || !filepath.IsAbs(d.Path) {
			return fieldErr(fld+".path", "%q is not an absolute path", d.Path)
		}
		dev := Device{Path: filepath.Clean(d.Path), Major: d.Major, Minor: d.Minor}
		switch d.Type {
		case "c", "u":
			dev.Type = 'c'
		case "b":
			dev.Type = 'b'
		case "p":
			dev.Type = 'p'
		default:
			return fieldErr(fld+".type", "unknown device type %q (want c, b, u or p)", d.Type)
		}
		if d.FileMode != nil {
			dev.FileMode = uint32(*d.FileMode) & 0o7777
		}
		if d.UID != nil {
			dev.UID = *d.UID
		}
		if d.GID != nil {
			dev.GID = *d.GID
		}
		c.Devices = append(c.Devices, dev)
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
		c.MaskedPaths = append(c.MaskedPaths, filepath.Clean(p))
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
		c.ReadonlyPaths = append(c.ReadonlyPaths, filepath.Clean(p))
	}
	for k, v := range l.Sysctl {
		if err := c.checkSysctl(k); err != nil {
			return err
		}
		c.Sysctl[k] = v
	}
	if l.RootfsPropagation != "" {
		p, ok := propagationFlags[l.RootfsPropagation]
		if !ok {
			return fieldErr("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
		}
		c.RootPropagation = p
	}
	c.CgroupsPath = l.CgroupsPath
	c.Resources = l.Resources
	c.Seccomp = l.Seccomp
	if l.Seccomp != nil && l.Seccomp.ListenerPath != "" && !filepath.IsAbs(l.Seccomp.ListenerPath) {
		return fieldErr("linux.seccomp.listenerPath", "%q is not an absolute path", l.Seccomp.ListenerPath)
	}
	if err := checkNotify(l.Seccomp); err != nil {
		return err
	}
	if l.Personality != nil {
		switch l.Personality.Domain {
		case specs.PerLinux:
			c.Personality = 0x0000 // PER_LINUX
		case specs.PerLinux32:
			c.Personality = 0x0008 // PER_LINUX32
		default:
			return fieldErr("linux.personality.domain", "unknown domain %q", l.Personality.Domain)
		}
		if len(l.Personality.Flags) > 0 {
			return fieldErr("linux.personality.flags", "not supported")
		}
	}
	if l.IntelRdt != nil {
		return errdefs.NotImplemented("linux.intelRdt: not supported by capsa-runtime")
	}
	if c.Process.ApparmorProfile != "" && !apparmorEnabled() {
		return fieldErr("process.apparmorProfile", "profile %q requested but AppArmor is not enabled on this host", c.Process.ApparmorProfile)
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// checkSysctl allows only sysctls that live in a namespace the container
// has its own of, as runc does: anything else would change the host.
func (c *Config) checkSysctl(key string) error {
	fld := fmt.Sprintf("linux.sysctl[%q]", key)
	if strings.Contains(key, "/") || strings.Contains(key, "..") {
		return fieldErr(fld, "invalid sysctl name")
	}
	ipc := map[string]bool{
		"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true,
		"kernel.sem": true, "kernel.shmall": true, "kernel.shmmax": true,
		"kernel.shmmni": true, "kernel.shm_rmid_forced": true,
	}
	switch {
	case ipc[key] || strings.HasPrefix(key, "fs.mqueue."):
		if _, ok := c.Has(NSIPC); !ok {
			return fieldErr(fld, "needs an ipc namespace in linux.namespaces")
		}
	case strings.HasPrefix(key, "net."):
		if _, ok := c.Has(NSNet); !ok {
			return fieldErr(fld, "needs a network namespace in linux.namespaces")
		}
	case key == "kernel.domainname" || key == "kernel.hostname":
		if _, ok := c.Has(NSUTS); !ok {
			return fieldErr(fld, "needs a uts namespace in linux.namespaces")
		}
	default:
		return fieldErr(fld, "not in a namespace of the container: setting it would change the host")
	}
	return nil
}

// mapsID reports whether container id is inside one of ms.
func mapsID(ms []IDMap, id uint32) bool {
	_, ok := HostID(ms, id)
	return ok
}

// HostID maps container id to the host through ms.
func HostID(ms []IDMap, id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID, true
		}
	}
	return 0, false
}

// checkNotify refuses SCMP_ACT_NOTIFY where the runtime's own setup would
// wait on the agent, as runc does: a notify filter is loaded while init
// still has work to do (it reports to the runtime with write(2) after the
// filter is in place), so a notifying default or a notified write would
// hang the container's creation on an agent that may never answer.
func checkNotify(sc *specs.LinuxSeccomp) error {
	if sc == nil {
		return nil
	}
	if sc.DefaultAction == specs.ActNotify {
		return fieldErr("linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own setup would wait on the agent")
	}
	for i, r := range sc.Syscalls {
		if r.Action != specs.ActNotify {
			continue
		}
		for j, n := range r.Names {
			if n == "write" {
				return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].names[%d]", i, j), "SCMP_ACT_NOTIFY cannot be used for write: the runtime reports to itself with it after the filter is loaded")
			}
		}
	}
	return nil
}
