package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/capsa-dev/capsa/bench/internal/benchhost"
	"golang.org/x/sys/unix"
)

// The benchmark runs in three processes:
//
//	outer (host namespaces)
//	 │ notes the host's iptables rules, links and mounts; makes the temp dir
//	 │ clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET)
//	 ▼
//	init (pid 1 of a new pid namespace, own mount and network namespaces)
//	 │ mounts private, /sys/fs/cgroup/unified unmounted, a fresh /proc,
//	 │ tmpfs on maskedDirs, lo up; reaps orphans
//	 ▼
//	worker: starts the daemons, imports the image, measures, cleans up
//
// Why each namespace:
//   - mount: this host is hybrid (v1 controllers, cgroup2 at
//     /sys/fs/cgroup/unified) and crun 1.8 refuses that layout; without the
//     unified mount every runtime sees a plain v1 host, and all engines run
//     the same way. The tmpfs on /run, /dev/shm and /var/lib/cni give the
//     engines' hard-coded paths (maskedDirs) private, throw-away homes.
//   - network: the engines' default networks (docker0, podman's CNI
//     bridge, their iptables chains and NAT rules, ip_forward) are made in a
//     namespace that dies with the bench, so the host's rule set, links and
//     sysctls cannot change. Nothing is sent anywhere: the containers run
//     `true` and `sleep`.
//   - pid: every daemon, shim and container is a descendant of init; when
//     the worker is done, init lists what is left (a cleanup failure,
//     reported), kills each one by pid, and the kernel would end the rest
//     with init. /proc shows only the bench's processes, so the memory
//     figures cannot pick up another engine's shims.
//
// The outer process removes the cgroups the engines left (the cgroup
// hierarchies are shared with the host; the unified one is only visible
// there) and checks that the host looks as it did.
const (
	stageEnv  = "CAPSA_BENCH_ENGINE_STAGE" // "init" or "worker"
	tagEnv    = "CAPSA_BENCH_ENGINE_TAG"
	tmpEnv    = "CAPSA_BENCH_ENGINE_TMP"
	unified   = "/sys/fs/cgroup/unified"
	cgroupTop = "capsa-bench-engine" // parent of the peers' container cgroups
)

// maskedDirs get a tmpfs in the bench's mount namespace: host paths that
// the engines write to whatever their configuration says. One that does not
// exist is made as a mount point by the outer process and removed after.
var maskedDirs = []string{
	"/run",                // runc's /run/runc, podman's /run/netns, containerd's shim sockets
	"/dev/shm",            // podman's lock segment, libpod_lock
	"/var/lib/cni",        // CNI's cache and host-local IPAM state (hard-coded in podman 4.3)
	"/var/lib/containers", // containers/image's blob-info cache of podman load
	"/opt/containerd",     // containerd's opt plugin, in dockerd's own containerd
	"/var/tmp",            // podman writes there, whatever TMPDIR says
}

// stickyDirs are the masked dirs that everyone may write to.
var stickyDirs = []string{"/dev/shm", "/var/tmp"}

// hostState is what the outer process compares before and after.
type hostState struct {
	iptables string   // iptables-save and ip6tables-save, counters and comments dropped
	links    []string // link names in the host's network namespace
}

func snapshotHost() hostState {
	var s hostState
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		if err != nil {
			s.iptables += fmt.Sprintf("%s: %v\n", tool, err)
			continue
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			if strings.HasPrefix(l, ":") { // ":CHAIN POLICY [packets:bytes]"
				if i := strings.LastIndex(l, " ["); i > 0 {
					l = l[:i]
				}
			}
			s.iptables += l + "\n"
		}
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			s.links = append(s.links, e.Name())
		}
	}
	return s
}

// runOuter makes the temp dir, runs the bench in new namespaces, removes
// the cgroups and checks the host afterwards. It returns the exit code.
func runOuter(tag string) int {
	// Ctrl-C reaches the namespaced processes through the process group;
	// this one stays to clean up. (Catching rather than ignoring, so that
	// the child does not inherit SIG_IGN.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sigs); close(sigs) }()

	sweepStale()
	before := snapshotHost()
	tmp, err := os.MkdirTemp("", tmpPrefix+tag+"-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp) // on an early return; checked and removed below
	var made []string       // mount points made here, removed below
	defer func() {
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i])
		}
	}()
	for _, dir := range maskedDirs {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				fmt.Fprintf(os.Stderr, "engine bench: mount point %s: %v\n", dir, err)
				return 1
			}
			made = append(made, dir)
		}
	}
	// Written down for sweepStale, in case this process is killed.
	madeList := filepath.Join(tmp, madeFile)
	if err := os.WriteFile(madeList, []byte(strings.Join(made, "\n")), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: %v\n", err)
		return 1
	}

	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), stageEnv+"=init", tagEnv+"="+tag, tmpEnv+"="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	code := 0
	err = cmd.Start()
	if err == nil {
		// A signal sent to this process only (not its group) goes on to
		// init, which passes it to the worker: it stops and cleans up.
		go func() {
			for sig := range sigs {
				_ = cmd.Process.Signal(sig)
			}
		}()
		err = cmd.Wait()
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "engine bench: start in new namespaces: %v\n", err)
		}
		code = 1
	}

	// Cleanup checks. Each failure is reported and fails the run.
	var problems []string
	_ = os.Remove(madeList)
	if err := benchhost.RemoveCgroups(cgroupTop, tag); err != nil {
		problems = append(problems, err.Error())
	}
	if n := countFiles(tmp); n > 0 {
		problems = append(problems, fmt.Sprintf("%d files were left in %s (removed now)", n, tmp))
	}
	if err := os.RemoveAll(tmp); err != nil {
		problems = append(problems, fmt.Sprintf("remove %s: %v", tmp, err))
	}
	for i := len(made) - 1; i >= 0; i-- {
		err := os.Remove(made[i])
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTEMPTY):
			// Only the tmpfs above it was written to: another process on
			// the host has used it since.
			fmt.Printf("note: %s, made by the bench as a mount point, is in use by another process now: left\n", made[i])
		default:
			problems = append(problems, fmt.Sprintf("remove the mount point %s: %v", made[i], err))
		}
	}
	made = nil
	if mps := mountsUnder(tmp, nil); len(mps) > 0 {
		problems = append(problems, fmt.Sprintf("mounts on the host under %s: %s", tmp, strings.Join(mps, " ")))
	}
	after := snapshotHost()
	if before.iptables != after.iptables {
		problems = append(problems, "the host's iptables rules changed during the run (the engines' rules go to the bench's own network namespace: another process on the host?)")
	}
	if a, b := strings.Join(before.links, " "), strings.Join(after.links, " "); a != b {
		problems = append(problems, fmt.Sprintf("the host's links changed during the run: before %q, after %q", a, b))
	}
	if len(problems) > 0 {
		fmt.Println("cleanup check (host): FAILED")
		for _, p := range problems {
			fmt.Println("  - " + p)
		}
		return 1
	}
	fmt.Printf("cleanup check (host): ok (no cgroup, temp file or mount point left; the host's iptables rules and links identical before and after)\n")
	return code
}

// tmpPrefix starts the name of the bench's temp dir, followed by the tag;
// madeFile in it lists the mount points the outer process made.
const (
	tmpPrefix = "capsa-bench-engine-"
	madeFile  = "made-mount-points"
)

// sweepStale removes the temp dirs and cgroups of earlier runs whose outer
// process is gone (killed before it could clean up: the kernel ended their
// namespaces and everything in them, but not these). A tag is "eb" and the
// outer process's pid.
func sweepStale() {
	stale := func(tag string) bool {
		pid, err := strconv.Atoi(strings.TrimPrefix(tag, "eb"))
		if err != nil || !strings.HasPrefix(tag, "eb") || pid == os.Getpid() {
			return false
		}
		_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
		return errors.Is(err, fs.ErrNotExist)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPrefix+"eb*-*"))
	for _, d := range dirs {
		tag, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), tmpPrefix), "-")
		if !stale(tag) || len(mountsUnder(d, nil)) > 0 {
			continue
		}
		if made, err := os.ReadFile(filepath.Join(d, madeFile)); err == nil {
			for _, mp := range strings.Fields(string(made)) {
				if os.Remove(mp) == nil { // only if still empty
					fmt.Printf("note: removed the mount point %s, made by a killed run\n", mp)
				}
			}
		}
		fmt.Printf("note: removing %s, left by a killed run\n", d)
		_ = os.RemoveAll(d)
	}
	mps, _ := benchhost.Mounts()
	for _, mp := range mps {
		if mp.FSType != "cgroup" && mp.FSType != "cgroup2" {
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(mp.Mountpoint, cgroupTop))
		for _, e := range ents {
			tag, _, _ := strings.Cut(e.Name(), "-")
			if e.IsDir() && stale(tag) {
				if err := benchhost.RmdirTree(filepath.Join(mp.Mountpoint, cgroupTop, e.Name())); err == nil {
					fmt.Printf("note: removed cgroup %s, left by a killed run\n", filepath.Join(mp.Mountpoint, cgroupTop, e.Name()))
				}
			}
		}
	}
}

// runInit is pid 1 of the bench's pid namespace: it prepares the mounts
// and the network, runs the worker, reaps every orphan, and at the end
// kills, by pid, whatever the worker left running.
func runInit() int {
	signal.Ignore(unix.SIGTTOU, unix.SIGTTIN)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := setupNamespace(); err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: %v\n", err)
		return 1
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), stageEnv+"=worker")
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "engine bench: start worker: %v\n", err)
		return 1
	}
	worker := cmd.Process.Pid
	go func() {
		// Pass Ctrl-C on: the worker stops measuring and cleans up.
		for s := range sigs {
			_ = unix.Kill(worker, s.(syscall.Signal))
		}
	}()
	code := reapUntil(worker)

	// Anything still alive was left by an engine (or by a worker that
	// failed before its cleanup): report and kill it, by pid.
	left := processes()
	if len(left) > 0 {
		fmt.Println("cleanup check (processes): FAILED, left in the bench's pid namespace (killed now):")
		for _, p := range left {
			fmt.Printf("  - pid %d: %s\n", p.pid, p.cmdline)
			_ = unix.Kill(p.pid, unix.SIGKILL)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(processes()) > 0 && time.Now().Before(deadline) {
			reapAll()
			time.Sleep(50 * time.Millisecond)
		}
		code = 1
	} else {
		fmt.Println("cleanup check (processes): ok (no daemon, shim or container process left)")
	}
	return code
}

// reapUntil reaps children until pid exits and returns its exit code.
func reapUntil(pid int) int {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 1
		}
		if p == pid {
			if ws.Exited() {
				return ws.ExitStatus()
			}
			return 1
		}
	}
}

func reapAll() {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if p <= 0 || err != nil {
			return
		}
	}
}

// setupNamespace runs in init, in the new mount and network namespaces.
func setupNamespace() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := benchhost.HideUnified(unified); err != nil {
		return err
	}
	// This pid namespace's own /proc, over the host's.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, dir := range maskedDirs {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
		}
	}
	for _, dir := range stickyDirs {
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			return err
		}
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

type proc struct {
	pid     int
	cmdline string
}

// processes lists the processes of this pid namespace but init and its
// zombies.
func processes() []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid, strings.TrimSpace(string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))})
	}
	return out
}

// mountsUnder returns the mount points at or below dir, deepest first,
// but those whose mount id is in old.
func mountsUnder(dir string, old map[string]bool) []string {
	mps, _ := benchhost.Mounts()
	var out []string
	for _, m := range mps {
		if old[strconv.Itoa(m.ID)] {
			continue
		}
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m.Mountpoint)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// mountIDs returns the ids of the mounts there are now.
func mountIDs() map[string]bool {
	mps, _ := benchhost.Mounts()
	ids := make(map[string]bool, len(mps))
	for _, m := range mps {
		ids[strconv.Itoa(m.ID)] = true
	}
	return ids
}

func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			n++
		}
		return nil
	})
	return n
}
