// Package openat2 is openat2(2) as its callers must use it: a lookup
// confined with RESOLVE_IN_ROOT or RESOLVE_BENEATH fails with EAGAIN when
// a rename or mount anywhere on the host raced it (the kernel could not
// prove the result is inside the root), and the man page asks the caller
// to retry. Every confined open in capsa goes through Open.
package openat2

import (
	"errors"

	"golang.org/x/sys/unix"
)

// maxRetries bounds the retries: a host renaming without pause must not
// keep a caller spinning forever.
const maxRetries = 128

// Open is unix.Openat2 retried on EAGAIN and EINTR.
func Open(dirFd int, name string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirFd, name, how)
		if (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) && i < maxRetries {
			continue
		}
		return fd, err
	}
}
