// Command cgroup2 runs internal/cgroup's v2 tests inside a virtual machine
// whose only cgroup hierarchy is cgroup v2 with its controllers, which a
// hybrid host (v1 controllers, an empty cgroup2 beside them) cannot offer.
//
// It builds the package's test binary statically, packs it as the /init of
// an initramfs, boots the host's Debian kernel on it under qemu (software
// emulation, microvm: no disk, no firmware, a serial console) and streams
// the console. The test binary, started as PID 1, mounts cgroup2, runs the
// tests, prints a result marker and powers the machine off (see
// internal/cgroup/v2_test.go). The exit status is 0 only if the PASS
// marker appeared.
//
//	go run ./test/cgroup2 [-kernel /boot/vmlinuz-...] [-run REGEXP] [-timeout 4m]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The markers the guest prints; internal/cgroup/v2_test.go has the same.
const (
	markerInit = "CAPSA-CGROUP2-INIT"
	markerPass = "CAPSA-CGROUP2-RESULT: PASS"
	markerFail = "CAPSA-CGROUP2-RESULT: FAIL"
)

func main() {
	kernel := flag.String("kernel", "", "kernel image to boot (default: the newest /boot/vmlinuz-*)")
	// The pattern goes on the kernel's command line: no spaces.
	run := flag.String("run", "^TestV2", "tests to run in the guest (go test -run; no spaces)")
	timeout := flag.Duration("timeout", 4*time.Minute, "time allowed for the whole run, build and boot included")
	mem := flag.String("m", "512M", "guest memory")
	smp := flag.Int("smp", 2, "guest CPUs")
	keep := flag.Bool("keep", false, "keep the work directory (initramfs, test binary)")
	initBin := flag.String("init", "", "a static binary to boot as init instead of the test binary (debugging)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := runVM(ctx, vmConfig{kernel: *kernel, run: *run, mem: *mem, smp: *smp, keep: *keep, init: *initBin}); err != nil {
		fmt.Fprintln(os.Stderr, "cgroup2:", err)
		os.Exit(1)
	}
}

type vmConfig struct {
	kernel string
	run    string
	mem    string
	smp    int
	keep   bool
	init   string
}

func runVM(ctx context.Context, c vmConfig) error {
	start := time.Now()
	if c.kernel == "" {
		k, err := newestKernel()
		if err != nil {
			return err
		}
		c.kernel = k
	}
	work, err := os.MkdirTemp("", "capsa-cgroup2-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintln(os.Stderr, "cgroup2: work directory", work)
	} else {
		defer os.RemoveAll(work)
	}

	// Without cgo the test binary is static: it needs nothing in the
	// initramfs but itself.
	bin := c.init
	if bin == "" {
		bin = filepath.Join(work, "init")
		build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "github.com/capsa-dev/capsa/internal/cgroup")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build the test binary: %w", err)
		}
	}
	// The modules must come from the kernel as named in /boot.
	modules := modulesFor(c.kernel)
	vmlinux := filepath.Join(work, "vmlinux")
	if err := extractVmlinux(ctx, c.kernel, vmlinux); err != nil {
		// The bzImage boots too, only slower.
		fmt.Fprintf(os.Stderr, "cgroup2: booting the compressed image: %v\n", err)
	} else {
		c.kernel = vmlinux
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	if err := writeInitramfs(initrd, bin, modules); err != nil {
		return err
	}
	built := time.Now()

	args := qemuArgs(c, initrd)
	fmt.Fprintf(os.Stderr, "cgroup2: qemu-system-x86_64 %s\n", strings.Join(args, " "))
	for attempt := 1; ; attempt++ {
		bootStart := time.Now()
		result, initAt, err := boot(ctx, args)
		boot := "init not reached"
		if !initAt.IsZero() {
			boot = fmt.Sprintf("init after %.1fs", initAt.Sub(bootStart).Seconds())
		}
		fmt.Fprintf(os.Stderr, "cgroup2: build %.1fs, %s, total %.1fs\n",
			built.Sub(start).Seconds(), boot, time.Since(start).Seconds())
		switch {
		case result == markerPass:
			return nil
		case result == markerFail:
			return errors.New("the v2 tests failed in the guest")
		case (errors.Is(err, errBootHang) || errors.Is(err, errGuestSilent)) && attempt < bootAttempts && ctx.Err() == nil:
			fmt.Fprintf(os.Stderr, "cgroup2: %v; booting again\n", err)
			continue
		case err != nil:
			return fmt.Errorf("no result from the guest: %w", err)
		default:
			return errors.New("no result from the guest: the machine stopped before the tests ended")
		}
	}
}

// A boot that has not reached init by bootTimeout (it takes 2 to 3 s)
// hangs: it is retried, up to bootAttempts boots in all.
//
// A guest that reached init but then says nothing for silenceTimeout (the
// longest test waits 30 s for its workload) hangs too: seen once under TCG
// in a CPU quota test, the emulated machine stopped making progress; it is
// retried the same way. A test that fails is not retried.
const (
	bootTimeout    = 60 * time.Second
	silenceTimeout = 75 * time.Second
	bootAttempts   = 3
)

var (
	errBootHang    = fmt.Errorf("the guest did not reach init in %v", bootTimeout)
	errGuestSilent = fmt.Errorf("the guest said nothing for %v after init", silenceTimeout)
)

// boot runs qemu once, streaming the console to stdout, and returns the
// result marker it printed, if any, and when init first spoke.
func boot(ctx context.Context, args []string) (result string, initAt time.Time, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", initAt, err
	}
	// qemu gets SIGKILL when ctx ends; WaitDelay bounds the wait for the
	// console pipe after that.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", initAt, fmt.Errorf("start qemu: %w", err)
	}
	initSeen := make(chan struct{})
	hang := time.AfterFunc(bootTimeout, func() {
		select {
		case <-initSeen:
		default:
			cancel(errBootHang)
		}
	})
	defer hang.Stop()
	silent := time.AfterFunc(bootTimeout+silenceTimeout, func() { cancel(errGuestSilent) })
	defer silent.Stop()
	result, initAt = scanConsole(out, os.Stdout, initSeen, func() { silent.Reset(silenceTimeout) })
	werr := cmd.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return result, initAt, cause
	}
	if werr != nil {
		return result, initAt, fmt.Errorf("qemu: %w", werr)
	}
	return result, initAt, nil
}

// scanConsole copies the console to w and returns the result marker it
// saw, if any, and when the guest's init first spoke, closing initSeen
// then; it calls spoke for every line after that.
func scanConsole(r io.Reader, w io.Writer, initSeen chan<- struct{}, spoke func()) (result string, initAt time.Time) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !initAt.IsZero() {
				spoke()
			}
			_, _ = io.WriteString(w, line)
			l := strings.TrimRight(line, "\r\n")
			switch {
			case strings.Contains(l, markerInit):
				if initAt.IsZero() {
					initAt = time.Now()
					close(initSeen)
				}
			case strings.HasPrefix(l, markerPass):
				result = markerPass
			case strings.HasPrefix(l, markerFail):
				result = markerFail
			}
		}
		if err != nil {
			return result, initAt
		}
	}
}

func qemuArgs(c vmConfig, initrd string) []string {
	cmdline := []string{
		"console=ttyS0",
		// Early TSC calibration against the PIT is unreliable under TCG:
		// now and then the boot hangs. Giving the frequency skips it.
		"tsc_early_khz=" + hostKHz(),
		"panic=-1", "reboot=t", "quiet", "loglevel=4",
		// microvm has no PCI bus; without this the kernel complains.
		"pci=off",
		// The guest's init is the test binary; a "--" ends the kernel's
		// parameters, and what follows is init's argv.
		"--", "-test.v", "-test.run=" + c.run, "-test.timeout=3m",
	}
	return []string{
		"-accel", "tcg",
		"-M", "microvm,isa-serial=on",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-cpu", "max",
		"-smp", strconv.Itoa(c.smp),
		"-m", c.mem,
		"-serial", "stdio",
		"-kernel", c.kernel,
		"-initrd", initrd,
		"-append", strings.Join(cmdline, " "),
	}
}

// hostKHz is the host's TSC frequency in kHz as /proc/cpuinfo reports it;
// qemu's TCG TSC runs at the host's rate.
func hostKHz() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && strings.TrimSpace(k) == "cpu MHz" {
				if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					return strconv.Itoa(int(mhz * 1000))
				}
			}
		}
	}
	return "2000000"
}

// newestKernel returns the /boot/vmlinuz-* with the highest version.
func newestKernel() (string, error) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(ks) == 0 {
		return "", errors.New("no kernel in /boot: install linux-image-amd64 (make install-deps)")
	}
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i], ks[j]) })
	return ks[len(ks)-1], nil
}

// versionLess orders kernel file names by their numeric fields.
func versionLess(a, b string) bool {
	num := func(s string) []int {
		var out []int
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
		return out
	}
	na, nb := num(a), num(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	return len(na) < len(nb)
}

// modulesFor returns the kernel modules of kernel that the guest loads:
// brd, a RAM disk, gives the io controller a block device to limit
// (Debian builds every block driver as a module). A missing module is
// left out; the tests that need it skip.
func modulesFor(kernel string) map[string]string {
	release := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	mods := map[string]string{}
	p := filepath.Join("/lib/modules", release, "kernel/drivers/block/brd.ko")
	if _, err := os.Stat(p); err == nil {
		mods["brd.ko"] = p
	}
	return mods
}

// busybox is a static shell and tools for the tests that run commands
// (busybox-static): they get /bin/sh and the applets below.
const busybox = "/bin/busybox"

var busyboxApplets = []string{"sh", "head", "cat", "echo", "sleep", "true"}

// writeInitramfs packs the test binary as /init, the mount points it
// needs, busybox if the host has it, and the modules (in /modules) into a
// newc cpio archive.
func writeInitramfs(dst, init string, modules map[string]string) error {
	var buf bytes.Buffer
	cw := &cpioWriter{w: &buf}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "modules"} {
		cw.dir(d, 0o755)
	}
	b, err := os.ReadFile(init)
	if err != nil {
		return err
	}
	cw.file("init", 0o755, b)
	if b, err := os.ReadFile(busybox); err == nil {
		cw.file("bin/busybox", 0o755, b)
		for _, a := range busyboxApplets {
			cw.symlink("bin/"+a, "busybox")
		}
	} else {
		fmt.Fprintf(os.Stderr, "cgroup2: no %s (busybox-static): the tests that run commands fail\n", busybox)
	}
	names := make([]string, 0, len(modules))
	for n := range modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(modules[n])
		if err != nil {
			return err
		}
		cw.file("modules/"+n, 0o644, b)
	}
	if err := cw.close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}
