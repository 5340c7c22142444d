// Package engine is the library at the heart of capsad: it owns the content
// store, the overlay snapshotter, the image records and a bbolt database of
// containers, and drives each container's life through its capsa-shim.
// It knows nothing of HTTP or of a command line.
//
// # Containers
//
// Create resolves an image, unpacks it into snapshots by chain ID,
// Prepares the container's writable snapshot (key: the container's ID, 64
// hex digits as Docker's), mounts it, writes the bundle and records the
// container in one transaction; any failure undoes every step. Start runs
// the container under its own capsa-shim, which outlives the engine; a
// monitor goroutine waits on the shim and records the exit. The exit code
// and time come from the shim (its exit.json), so they survive a restart
// of the engine: Open calls Reconcile, which finds each running
// container's shim again, or its exit record, or marks it exited(255).
//
// A container's status (created, running, paused, restarting, removing,
// exited, dead, as Docker reports it) changes only through
// Container.transition, which refuses a wrong change with a
// *TransitionError (an errdefs conflict).
//
// # Layout on disk
//
//	<DataRoot>/content                  OCI content store
//	<DataRoot>/snapshots/overlay        overlay snapshots (the container's is keyed by its ID)
//	<DataRoot>/images.db                image records
//	<DataRoot>/containers.db            container records (bbolt)
//	<DataRoot>/containers/<id>/         bundle: config.json, <id>-json.log, shim.log
//	<RunRoot>/containers/<id>/          shim state: shim.sock, exit.json; rootfs/ (the mount)
//	<RunRoot>/runtime                   the OCI runtime's --root
//
// # Locks
//
// Three kinds, always taken in this order:
//
//	Container.opMu  →  Engine.mu  →  Container.mu  →  (bbolt's writer lock)
//
// opMu serializes the lifecycle operations of one container (Start, Stop,
// Kill, Remove) and may be held across blocking calls to the shim. Engine.mu
// guards the in-memory index of containers and names and is held across
// the database transactions that change it. Container.mu guards a
// container's record and is held only briefly, never across a call to a
// shim; the monitor goroutine that records an exit takes only
// Container.mu (and Engine.mu before it), so a lifecycle operation waiting
// for an exit never blocks it.
package engine
