package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/internal/cgroup"
	"github.com/capsa-dev/capsa/internal/nsenter"
	"github.com/capsa-dev/capsa/internal/runtime/config"
)

// nsFlags maps namespace types to their clone flags.
var nsFlags = map[config.NSType]uintptr{
	config.NSMount:  unix.CLONE_NEWNS,
	config.NSUTS:    unix.CLONE_NEWUTS,
	config.NSIPC:    unix.CLONE_NEWIPC,
	config.NSPID:    unix.CLONE_NEWPID,
	config.NSNet:    unix.CLONE_NEWNET,
	config.NSUser:   unix.CLONE_NEWUSER,
	config.NSCgroup: unix.CLONE_NEWCGROUP,
	config.NSTime:   unix.CLONE_NEWTIME,
}

// nsJoin is a namespace to join by path.
type nsJoin struct {
	Type config.NSType
	Path string
}

// spawnSpec describes the child to start.
type spawnSpec struct {
	// New are the namespaces to create. Cgroup and time namespaces are
	// left out: init creates them itself (see init_linux.go).
	New []config.NSType
	// Join are namespaces to join; non-empty means the C stage runs.
	Join                     []nsJoin
	UIDMappings, GIDMappings []config.IDMap
	Stdin, Stdout, Stderr    *os.File
	// ExtraFiles become fds 3, 4, ... in the child.
	ExtraFiles []*os.File
	// SyncFd is the sync socket's fd number in the child.
	SyncFd int
	// Cgroup is how the child enters its cgroup by itself (v1 tasks files
	// written by the C stage, CLONE_INTO_CGROUP for v2); the caller then
	// moves it where that did not work (cgroup.Manager.Apply).
	Cgroup cgroup.Placement
}

// spawned is a started child. Pid is the process that goes on to be the
// container's init or exec process: the direct child, or its CLONE_PARENT
// sibling when the C stage forked into a PID namespace.
type spawned struct {
	Pid int
	// direct is the process we forked; it differs from Pid when the C
	// stage forked again.
	direct int
}

// spawn starts this binary as a container init/exec process and completes
// the C stage's part of the protocol (usermap, pid), so that on return Pid
// is the process that will read msgConfig.
func spawn(sp spawnSpec, sock *syncSocket) (*spawned, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	env := []string{nsenter.EnvSyncFD + "=" + strconv.Itoa(sp.SyncFd), envInit + "=1"}
	// syscall.ForkExec rather than os/exec: os.StartProcess first probes
	// pidfd support by forking a throwaway child, a cost on every start.
	files := []uintptr{fdOf(sp.Stdin, 0), fdOf(sp.Stdout, 1), fdOf(sp.Stderr, 2)}
	for _, f := range sp.ExtraFiles {
		files = append(files, f.Fd())
	}
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			// If the runtime dies before init is set up, so does init;
			// init clears this once it is on its own.
			Pdeathsig: unix.SIGKILL,
		},
	}
	var newFlags uintptr
	for _, t := range sp.New {
		newFlags |= nsFlags[t]
	}
	if len(sp.Cgroup.V1Tasks) > 0 {
		attr.Env = append(attr.Env, nsenter.EnvCgroupTasks+"="+strings.Join(sp.Cgroup.V1Tasks, "\n"))
	}
	if sp.Cgroup.V2 != "" {
		// A missing or unusable v2 cgroup only costs the fast path.
		if fd, err := unix.Open(sp.Cgroup.V2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			defer unix.Close(fd)
			attr.Sys.UseCgroupFD = true
			attr.Sys.CgroupFD = fd
		}
	}
	cstage := len(sp.Join) > 0
	if cstage {
		var lines []string
		for _, j := range sp.Join {
			lines = append(lines, string(j.Type)+" "+j.Path)
		}
		attr.Env = append(attr.Env,
			nsenter.EnvJoin+"="+strings.Join(lines, "\n"),
			nsenter.EnvNew+"="+strconv.FormatUint(uint64(newFlags), 16))
	} else {
		attr.Sys.Cloneflags = newFlags
		if newFlags&unix.CLONE_NEWUSER != 0 {
			attr.Sys.UidMappings = sysIDMaps(sp.UIDMappings)
			attr.Sys.GidMappingsEnableSetgroups = true
			attr.Sys.GidMappings = sysIDMaps(sp.GIDMappings)
			// Creating a user namespace does not change the child's ids:
			// it is still the host's root, unmapped in the namespace, and
			// execve would drop every capability. Becoming the
			// namespace's root first keeps them (the C stage does the
			// same with setresuid).
			attr.Sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		}
	}
	pid, err := syscall.ForkExec(exe, []string{"capsa-runtime", "init"}, attr)
	if err != nil && attr.Sys.UseCgroupFD {
		// clone3 with CLONE_INTO_CGROUP can be refused (an old kernel, a
		// cgroup with controllers in its subtree): Apply moves the child.
		attr.Sys.UseCgroupFD = false
		pid, err = syscall.ForkExec(exe, []string{"capsa-runtime", "init"}, attr)
	}
	if err != nil {
		return nil, fmt.Errorf("start init process: %w", err)
	}
	s := &spawned{Pid: pid, direct: pid}
	// The C stage's messages: cgroup, maybe usermap, then pid if it forked.
	needCgroup := len(sp.Cgroup.V1Tasks) > 0
	needPid := false
	for _, j := range sp.Join {
		if j.Type == config.NSPID || j.Type == config.NSTime {
			needPid = true
		}
	}
	if newFlags&unix.CLONE_NEWPID != 0 {
		needPid = true
	}
	needMap := cstage && newFlags&unix.CLONE_NEWUSER != 0
	if !cstage {
		needPid = false
	}
	for needCgroup || needPid || needMap {
		m, err := sock.recv()
		if err != nil {
			s.kill()
			return nil, fmt.Errorf("init process: %w", s.exitReason(err))
		}
		switch m.Type {
		case msgCgroup:
			needCgroup = false
		case msgUsermap:
			needMap = false
			if err := writeIDMaps(s.direct, sp.UIDMappings, sp.GIDMappings); err != nil {
				s.kill()
				return nil, err
			}
			if err := sock.send(&syncMsg{Type: msgAck}); err != nil {
				s.kill()
				return nil, err
			}
		case msgPid:
			needPid = false
			s.Pid = m.Pid
			// The intermediate process exits once it has reported.
			var ws unix.WaitStatus
			_, _ = unix.Wait4(s.direct, &ws, 0, nil)
		case msgError:
			s.kill()
			return nil, m.Error
		default:
			s.kill()
			return nil, fmt.Errorf("sync: unexpected %q from the C stage", m.Type)
		}
	}
	return s, nil
}

func (s *spawned) kill() {
	var ws unix.WaitStatus
	for _, pid := range []int{s.Pid, s.direct} {
		if unix.Kill(pid, unix.SIGKILL) == nil {
			_, _ = unix.Wait4(pid, &ws, 0, nil)
		}
	}
}

// fdOf returns f's descriptor, or def when f is nil (inherit ours).
func fdOf(f *os.File, def uintptr) uintptr {
	if f == nil {
		return def
	}
	return f.Fd()
}

// wait waits for the spawned process to exit and returns its wait status.
func (s *spawned) wait() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(s.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, fmt.Errorf("wait for pid %d: %w", s.Pid, err)
		}
		return ws, nil
	}
}

// exitReason turns a broken sync socket into a useful error: if the child
// died, say how.
func (s *spawned) exitReason(err error) error {
	if !isEOF(err) {
		return err
	}
	var ws unix.WaitStatus
	pid, werr := unix.Wait4(s.Pid, &ws, unix.WNOHANG, nil)
	if werr == nil && pid == s.Pid {
		if ws.Signaled() {
			return fmt.Errorf("init process killed by signal %d before it was set up", ws.Signal())
		}
		return fmt.Errorf("init process exited with status %d before it was set up", ws.ExitStatus())
	}
	return fmt.Errorf("init process closed its sync socket before it was set up")
}

func sysIDMaps(ms []config.IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(ms))
	for _, m := range ms {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return out
}

func formatIDMap(ms []config.IDMap) []byte {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return []byte(b.String())
}

// writeIDMaps writes a process's uid_map and gid_map.
func writeIDMaps(pid int, uids, gids []config.IDMap) error {
	p := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(p+"/uid_map", formatIDMap(uids), 0); err != nil {
		return fmt.Errorf("write uid_map of pid %d: %w", pid, err)
	}
	if err := os.WriteFile(p+"/gid_map", formatIDMap(gids), 0); err != nil {
		return fmt.Errorf("write gid_map of pid %d: %w", pid, err)
	}
	return nil
}
