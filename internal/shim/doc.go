// Package shim keeps one container alive on its own: it creates and starts
// the container with an OCI runtime (capsa-runtime, or any runtime with
// runc's command line), holds the container's stdio, writes its output to a
// Docker json-file log (package logfile), reaps its init and records how it
// ended, and answers the engine on a unix socket. The engine (capsad) can
// die and come back: the shim, and the container, carry on.
//
// # Process
//
// The caller starts capsa-shim, which calls Run. Run makes the process a
// daemon: a new session (setsid), a child subreaper (PR_SET_CHILD_SUBREAPER,
// so that the container's init is reparented to the shim when the runtime,
// its parent, exits after create), cwd "/", SIGPIPE/SIGHUP/SIGINT/SIGTERM
// ignored (a shim stops only through shutdown, or SIGKILL). Once the
// container runs (with --wait-start: once it is created; see below) it
// prints one JSON line on stdout, {"pid":N,"socket":P} (or
// {"error":"..."} and exits 1), and then points stdin and stdout at
// /dev/null, and stderr too unless it is a regular file (the shim's own log):
// nothing ties it to a pipe the caller holds.
//
// # Protocol
//
// The socket is <state-dir>/shim.sock, a filesystem socket of mode 0600 in
// a directory of mode 0700; never an abstract one, which any process in
// the host's network namespace could reach (CVE-2020-15257). A connection
// carries JSON lines: a Request, then its Response, any number of times;
// wait is the last request of its connection (a client that hangs up ends
// its wait). attach turns the connection into a stream after its response: the shim
// sends frames in Docker's attach format (an 8-byte header: stream 1 for
// stdout or 2 for stderr, three zero bytes, a big-endian uint32 length; then
// the bytes; a terminal's output is stream 1), and the client sends raw
// stdin bytes. The shim closes the connection when the container's output
// ends; a client's half-close closes the container's stdin if it asked for
// close_stdin.
//
//	capsad                      capsa-shim                     capsa-runtime
//	  │ exec capsa-shim --id ..     │                                │
//	  │────────────────────────────▶│ setsid, subreaper, listen      │
//	  │                             │ create --bundle B [--console-socket S] ID
//	  │                             │───────────────────────────────▶│ init waits
//	  │                             │◀── pty master (SCM_RIGHTS) ────│ (--tty)
//	  │                             │ start ID ─────────────────────▶│ init runs
//	  │◀── {"pid":N,"socket":P} ────│ stdio → /dev/null              │ (exits; init
//	  │                             │                                │  reparented)
//	  │── {"op":"attach"} ─────────▶│                                │
//	  │◀── {"ok":true} + frames ────│◀── output ─── container        │
//	  │── {"op":"exec","exec_id":E,"process":{..}} ▶                 │
//	  │                             │ exec --detach --pid-file F     │
//	  │                             │   --process P ID ─────────────▶│ process runs
//	  │                             │ (runMu held: pid claimed)      │ (reparented)
//	  │◀── {"ok":true,"pid":M} + frames ◀── output ─── exec process  │
//	  │── {"op":"exec_state","exec_id":E} ▶ (stream ends at its exit)│
//	  │── {"op":"kill","signal":"TERM"} ▶ kill ID TERM ─────────────▶│
//	  │── {"op":"wait"} ───────────▶│ SIGCHLD: wait4(init)           │
//	  │                             │ exit.json (temp+fsync+rename)  │
//	  │◀── {"ok":true,"state":{..,"exit_code":143}}                  │
//	  │── {"op":"shutdown"} ───────▶│ delete ID ────────────────────▶│ cgroup, state gone
//	  │◀── {"ok":true} ─────────────│ close fds, remove sockets, exit
//
// With --wait-start the shim runs the runtime's create, prints its Ready
// line (the pid is the init's, waiting on the runtime's exec fifo), reads
// the container's output from then on, serves its socket, and runs the
// runtime's start only on a start request. Docker's clients attach and
// then start: an attach stream connected before the start receives the
// output from its first byte. State reports "created" until then. A start
// that fails is an error response; the shim then deletes the container
// (delete --force kills the init) and records the exit as for any other
// end; a second start is an error.
//
// Requests (field op): state; start (--wait-start only); attach (stdin,
// close_stdin); resize (rows, cols); kill (signal, a name or number, and
// all); wait; shutdown (force: kill the container first); exec and
// exec_state (below). resize, kill and wait with an exec_id act on that
// exec's process instead of the init (kill signals its pid directly, through
// a pidfd). Every response has ok, or error with a one-line message naming
// the container; state, start, wait, kill, shutdown and exec_state carry
// the State (for an exec: its id, pid, status, exit code); exec carries the
// pid.
//
// # Exec
//
// exec (exec_id, validated as container ids and unique; process, a
// runtime-spec Process object; terminal, rows and cols; stdin; detach)
// starts a process in the running container, as containerd's shim does:
// the shim holds its stdio, so it outlives the engine's restarts. The shim
// writes the process to a private file in the state dir and runs
// "runtime exec --detach --pid-file F --process P [--console-socket S] ID"
// (a terminal's pty master comes over S, as the init's does). The process
// is reparented to the shim, which reaps it and records its exit code (or
// 128+signal). A process the runtime cannot start is an error response
// carrying the runtime's one-line message ("no such file or directory",
// "permission denied": the engine maps them to Docker's 127 and 126).
// After {"ok":true,"pid":N} the connection is the exec's stream, unless
// detach (the output is then discarded): Docker frames without a terminal,
// raw bytes with one; the client's bytes go to the process's stdin, and its
// half-close closes it. The output waits for a slow client (there is only
// one); a client that leaves has the rest discarded. The stream ends once
// the process has exited and its output has ended, or stopped moving for
// ExitDrain (a process it left running in the container can hold it open).
// Records live in memory: at most 256, the oldest finished ones dropped
// first. When the init exits, the kernel kills the execs left in its PID
// namespace; they are reaped and end as stopped like any other.
//
// # Exit
//
// When the init exits the shim waits (at most ExitDrain) for the
// container's output to end, then writes <state-dir>/exit.json atomically
// (temp file, fsync, rename, fsync of the directory) and only then answers
// waiters: an engine that restarts finds the outcome with ReadExit even if
// the shim has gone. The exit code is the process's, or 128+signal.
//
// # Memory
//
// One shim runs per container, so its resident memory counts (TestMemory
// in test/shim reports it). main runs the shim with one P and GOGC 10.
// Once the container runs, the shim frees the start's garbage and drops its
// mappings of the binary's read-only pages (the kernel maps most of a
// binary on a few faults; the steady state needs little of it): see
// trimMemory. Each output line is written to the log without reflection or
// allocation (logfile's own JSON string encoder). The protocol's JSON is
// read and written by hand (package jsonwire: strict, an unknown field
// is an error) and its sockets are plain fds served by the runtime's
// poller (socket_linux.go): neither encoding/json nor net runs in a shim,
// whose pages would otherwise come back after the trim with the engine's
// first requests. No heap profiling (MemProfileRate 0).
//
// # Reaping
//
// The shim runs the runtime as children too, whose exit status os/exec
// must collect. So the reaper waits for the init and the known exec
// processes by their pids at any time, but collects other children
// (processes orphaned into the shim by the subreaper flag) with wait4(-1)
// only while no runtime command runs (runMu); each runtime command
// triggers a pass when it ends. An exec's pid is claimed (read from the pid
// file, recorded) before runMu is released after "runtime exec": a process
// that exits at once is never taken for an orphan. The reaper holds
// execMu while it reaps, and a kill by pid takes it too: no signal reaches
// a process that reused a reaped exec's pid.
package shim
