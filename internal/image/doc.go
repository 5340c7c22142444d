// Package image holds OCI images in a content store: small immutable
// values for an image and its layers read from the store (Load), the import
// of a root filesystem tarball as a one-layer image (ImportRootfs), image
// records name → manifest (Store), and the unpacking of an image's layers
// into snapshots named by their chain IDs (Unpack, ApplyLayer).
//
// Everything read from the store is treated as hostile: manifests and
// configs are bounded and validated once in Load, layer tars are applied
// with every path resolved inside the snapshot (openat2 RESOLVE_IN_ROOT)
// and with size and entry limits, and an uncompressed layer is checked
// against its diff ID before its snapshot is committed.
package image
