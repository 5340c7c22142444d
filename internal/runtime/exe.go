package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// exeMountPath is where the runtime binary is bind-mounted read-only.
const exeMountPath = "/run/capsa-runtime/.exe"

// selfExe returns the path to exec for a container's init and exec
// processes.
//
// Why not /proc/self/exe: until it execs the container's process, the init
// process runs the runtime binary, and a process in the container that gets
// hold of /proc/PID/exe (for example by making init exec "#!/proc/self/exe")
// could reopen it for writing and overwrite the host's runtime
// (CVE-2019-5736). Executing the binary through a read-only bind mount
// makes every such reopen fail with EROFS, because the open goes through
// the mount it was executed from, and the container cannot remount a mount
// of the host's namespace. The mount is made once and reused (two stats
// per start); if it cannot be made (no privilege), a sealed memfd copy is
// executed instead, which costs a copy of the binary per start.
var selfExe = sync.OnceValues(func() (string, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return "", fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	if exeMountCurrent(&self) {
		return exeMountPath, nil
	}
	if err := mountExe(&self); err == nil {
		return exeMountPath, nil
	}
	return memfdExe()
})

// exeMountCurrent reports whether exeMountPath is a read-only mount of the
// running binary.
func exeMountCurrent(self *unix.Stat_t) bool {
	var st unix.Stat_t
	if err := unix.Stat(exeMountPath, &st); err != nil || st.Dev != self.Dev || st.Ino != self.Ino {
		return false
	}
	var fs unix.Statfs_t
	return unix.Statfs(exeMountPath, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0
}

func mountExe(self *unix.Stat_t) error {
	if err := os.MkdirAll(filepath.Dir(exeMountPath), 0o711); err != nil {
		return err
	}
	// Serialise with other runtimes doing the same.
	lock, err := os.OpenFile(exeMountPath+".lock", os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	if exeMountCurrent(self) {
		return nil
	}
	// A stale mount of an older binary: detach it (running inits keep
	// their reference) and mount the current one.
	for unix.Unmount(exeMountPath, unix.MNT_DETACH) == nil {
	}
	f, err := os.OpenFile(exeMountPath, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o500)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount("/proc/self/exe", exeMountPath, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind runtime binary: %w", err)
	}
	if err := unix.Mount("", exeMountPath, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(exeMountPath, unix.MNT_DETACH)
		return fmt.Errorf("remount runtime binary read-only: %w", err)
	}
	// Keep mount events in containers' namespaces from reaching it.
	_ = unix.Mount("", exeMountPath, "", unix.MS_PRIVATE, "")
	return nil
}

// memfdExe copies the binary into a sealed memfd and returns its path.
func memfdExe() (string, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("open runtime binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("capsa-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return "", fmt.Errorf("memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "memfd:capsa-runtime")
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("copy runtime binary to memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return "", fmt.Errorf("seal memfd: %w", err)
	}
	// dst stays open for the life of this process.
	return fmt.Sprintf("/proc/self/fd/%d", fd), nil
}
