package archive

import "github.com/capsa-dev/capsa/internal/errdefs"

var (
	errdefsNotFound = errdefs.ErrNotFound
	errdefsInvalid  = errdefs.ErrInvalid
)
