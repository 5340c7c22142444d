// Package version holds the build's version strings, set by the linker.
package version

// Set with -ldflags -X by the Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
)

// OCIVersion is the runtime-spec version capsa implements.
const OCIVersion = "1.2.1"
