package cli

import "syscall"

// syscallNoFollow makes the open of an extracted file fail on a symlink
// rather than write through it.
const syscallNoFollow = syscall.O_NOFOLLOW
