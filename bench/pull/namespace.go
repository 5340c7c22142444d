package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capsa-dev/capsa/bench/internal/benchhost"
)

// The bench runs in two processes:
//
//	outer (host mount namespace)
//	 │ makes the temp dir; clone(CLONE_NEWNS)
//	 ▼
//	inner (own mount namespace: / private, tmpfs on maskedDirs)
//	   makes the image, starts the registry, measures, cleans up
//	 │ exits
//	 ▼
//	outer: checks that no mount is left under the temp dir, removes it
//
// Why a mount namespace: the tools write to hard-coded host paths whatever
// they are told (podman's lock segment in /dev/shm and its tmp dir in
// /run/libpod, the blob-info cache of podman and skopeo in
// /var/lib/containers/cache, big files in /var/tmp), and podman's overlay
// storage and capsa's create mount file systems. In the namespace those
// paths are throw-away tmpfs and every mount dies with it: nothing can
// leak into the host's state, even when the bench is killed. The network
// is the host's: the registry listens on 127.0.0.1 only.
const (
	stageEnv = "CAPSA_BENCH_PULL_TMP"  // set in the inner process to the temp dir
	runDir   = "/run/capsa-bench-pull" // the bench's dir on the inner /run tmpfs
)

// maskedDirs get an empty tmpfs in the bench's mount namespace.
var maskedDirs = []string{
	"/run",                // podman's tmp dir (/run/libpod), run roots, capsad's exec root
	"/dev/shm",            // podman's libpod_lock
	"/var/lib/containers", // the blob-info cache of podman and skopeo
	"/var/tmp",            // podman and skopeo write big files there, whatever TMPDIR says
}

// stickyDirs are the masked dirs everyone may write to.
var stickyDirs = []string{"/dev/shm", "/var/tmp"}

// runOuter makes the temp dir, runs the bench in a new mount namespace and
// checks the host afterwards. It returns the exit code.
func runOuter(keep bool) int {
	// Ctrl-C reaches the inner process through the process group; this
	// one stays to clean up. (Catching rather than ignoring, so that the
	// child does not inherit SIG_IGN.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	tmp, err := os.MkdirTemp("", "capsa-bench-pull-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pull bench: make the temp dir: %v\n", err)
		return 1
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), stageEnv+"="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "pull bench: re-execute in a mount namespace: %v\n", err)
		}
		code = 1
	}
	// The inner mounts died with its namespace: none may show here.
	if left := mountsUnder(tmp); len(left) > 0 {
		fmt.Printf("cleanup check (host): FAILED, mounts under %s on the host: %s (left for inspection)\n", tmp, strings.Join(left, " "))
		return 1
	}
	if keep {
		fmt.Printf("kept %s (-keep): the image layout, the registry's storage and logs\n", tmp)
		return code
	}
	if err := os.RemoveAll(tmp); err != nil {
		fmt.Printf("cleanup check (host): FAILED, remove %s: %v\n", tmp, err)
		return 1
	}
	fmt.Printf("cleanup check (host): ok (no mount on the host, temp dir %s removed)\n", tmp)
	return code
}

// enterNamespace runs in the inner process, in its new mount namespace.
func enterNamespace() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	for _, dir := range maskedDirs {
		if _, err := os.Stat(dir); err != nil {
			// Not made on the host: the bench creates nothing there.
			// podman and skopeo would make it; then it stays.
			fmt.Printf("note: %s does not exist on this host: not masked\n", dir)
			continue
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
		}
	}
	for _, dir := range stickyDirs {
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			return fmt.Errorf("chmod %s: %w", dir, err)
		}
	}
	return os.MkdirAll(runDir, 0o700)
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	mps, _ := benchhost.Mounts()
	var out []string
	for _, m := range mps {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m.Mountpoint)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unmountUnder detaches every mount at or below dir and returns them.
func unmountUnder(dir string) []string {
	left := mountsUnder(dir)
	for _, m := range left {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	return left
}
