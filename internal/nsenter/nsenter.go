// Package nsenter links capsa-runtime's C stage: a constructor that runs
// before the Go runtime starts and joins existing namespaces.
//
// Why C: setns(2) into a user namespace or a mount namespace is refused to a
// multithreaded process, and a Go program has several threads before main
// runs. New namespaces are created by the Go side with clone flags
// (SysProcAttr.Cloneflags) when nothing is joined; when anything is joined
// (an exec into a container, a netns prepared by CNI, a pod's namespaces)
// the C stage does the joins, then creates the new namespaces in the order
// the kernel's ownership rules need (joins, then a new user namespace, then
// the rest), then forks if a PID or time namespace is involved.
//
// Protocol, on the sync socket named by _CAPSA_INIT_FD (JSON messages):
//
//	runtime (Go)                         C stage (child, single-threaded)
//	   | -- exec with _CAPSA_NSENTER_* ---> |
//	   |                                    | write "0" to each v1 cgroup tasks file
//	   | <-------------- {"type":"cgroup"}  | (if _CAPSA_CGROUP_TASKS is set)
//	   |                                    | setns(user), setns(others), setns(mnt)
//	   |                                    | unshare(CLONE_NEWUSER)?
//	   | <------------- {"type":"usermap"}  |
//	   | write uid_map/gid_map, ack ------> |
//	   |                                    | unshare(rest); fork(CLONE_PARENT)?
//	   | <------- {"type":"pid","pid":N}    | (parent of the fork exits 0)
//	   | <------ {"type":"error",...}       | on any failure, then exit 1
//
// Importing this package (for its side effect) is all a binary needs.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"

// Environment variables read by the C stage.
const (
	EnvJoin   = "_CAPSA_NSENTER_JOIN"
	EnvNew    = "_CAPSA_NSENTER_NEW"
	EnvSyncFD = "_CAPSA_INIT_FD"
	// EnvCgroupTasks lists, one per line, the v1 cgroup "tasks" files the
	// C stage writes "0" to before anything else.
	EnvCgroupTasks = "_CAPSA_CGROUP_TASKS"
)
