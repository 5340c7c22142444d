// Package archive reads and writes a container's filesystem for the Docker
// Engine API's archive endpoints: StatPath and CopyOut serve
// HEAD/GET /containers/{id}/archive (docker cp out of a container), CopyIn
// serves PUT /containers/{id}/archive (docker cp into one), Changes serves
// /containers/{id}/changes (docker diff) and Export serves
// /containers/{id}/export.
//
// The container may be running while we read or write its tree, and its
// processes own that tree: any component may be swapped for a symlink to
// "/" or "../../.." at any moment (CVE-2018-15664). So no path that the
// container can influence is ever handed to a path syscall of the host.
// Every lookup inside the root is one openat2 with RESOLVE_IN_ROOT (or
// RESOLVE_BENEATH under a copy's destination) and RESOLVE_NO_MAGICLINKS on
// a directory fd, and every later operation is relative to the fd it
// returned (openat, mkdirat, fchownat, symlinkat, linkat, mknodat,
// utimensat with AT_SYMLINK_NOFOLLOW), so the kernel, not a string check,
// keeps us inside. Nothing from the container is ever executed or loaded
// (CVE-2019-14271: docker cp loaded the container's nsswitch libraries):
// tar headers carry numeric ids only.
package archive
