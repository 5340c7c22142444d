// Package engine is the library at the heart of capsad: it owns the content
// store, the overlay snapshotter, the image records and a bbolt database of
// containers, and drives each container's life through its capsa-shim.
// It knows nothing of HTTP or of a command line.
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
//	Container.opMu  →  Engine.mu  →  Container.mu
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
