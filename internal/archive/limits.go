package archive

// maxPath bounds a path given to the API and a tar entry's name or link
// target, in bytes (PATH_MAX).
const maxPath = 4096

// Limits bound what one CopyIn may make, so that a hostile archive (a
// tar bomb: millions of headers, absurd names, endless data) ends in a
// one-line error. A zero field takes its default.
type Limits struct {
	MaxEntries int   // tar headers; default 1<<20
	MaxPath    int   // bytes of an entry's name or link target; default and at most 4096
	MaxBytes   int64 // sum of regular files' sizes; default unbounded (docker has no bound)
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1 << 20
	}
	if l.MaxPath <= 0 || l.MaxPath > maxPath {
		l.MaxPath = maxPath
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1<<63 - 1
	}
	return l
}
