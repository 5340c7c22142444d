//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64le || loong64 || mips64le))

package devices

import (
	"errors"
	"fmt"
)

// errUnsupported is returned where bpf_linux.go's syscall layer is not
// built: off Linux, and on 32-bit or big-endian Linux, whose bpf_attr
// pointer layout and instruction byte order it does not handle.
var errUnsupported = errors.New("eBPF device filters are not supported on this platform")

// Attach is not supported on this platform.
func (p *Program) Attach(dir string) error {
	return fmt.Errorf("attach device filter to %q: %w", dir, errUnsupported)
}

// Detach is not supported on this platform.
func Detach(dir string) error {
	return fmt.Errorf("detach device filters from %q: %w", dir, errUnsupported)
}
