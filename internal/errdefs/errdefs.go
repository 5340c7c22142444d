// Package errdefs is capsa's error taxonomy: a small set of categories that
// every layer wraps its errors in, so that the CLI, the Docker API and CRI can
// map any error to an exit code, an HTTP status or a gRPC code from one table.
//
// Wrap with %w only; test with errors.Is against the sentinels below:
//
//	return fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
package errdefs

import "errors"

// The categories. Their messages are short because they end a chain of
// context phrases ("container \"web\": not found").
var (
	ErrNotFound       = errors.New("not found")
	ErrAlreadyExists  = errors.New("already exists")
	ErrInvalid        = errors.New("invalid argument")
	ErrConflict       = errors.New("conflict")
	ErrNotImplemented = errors.New("not implemented")
	ErrUnavailable    = errors.New("unavailable")
	ErrPermission     = errors.New("permission denied")
)

// Invalid returns an ErrInvalid error with the given message, which should
// name the field or value at fault.
func Invalid(msg string) error { return &categorized{msg: msg, cat: ErrInvalid} }

// NotFound returns an ErrNotFound error with the given message.
func NotFound(msg string) error { return &categorized{msg: msg, cat: ErrNotFound} }

// Conflict returns an ErrConflict error with the given message.
func Conflict(msg string) error { return &categorized{msg: msg, cat: ErrConflict} }

// NotImplemented returns an ErrNotImplemented error with the given message.
func NotImplemented(msg string) error { return &categorized{msg: msg, cat: ErrNotImplemented} }

// AlreadyExists returns an ErrAlreadyExists error with the given message.
func AlreadyExists(msg string) error { return &categorized{msg: msg, cat: ErrAlreadyExists} }

// Permission returns an ErrPermission error with the given message.
func Permission(msg string) error { return &categorized{msg: msg, cat: ErrPermission} }

// categorized is an error whose text is msg alone but which matches its
// category with errors.Is, so messages don't end in ": invalid argument".
type categorized struct {
	msg string
	cat error
}

func (e *categorized) Error() string        { return e.msg }
func (e *categorized) Is(target error) bool { return target == e.cat }

// HTTPStatus maps an error to the status code the Docker Engine API uses for
// it. Unknown errors are 500.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrNotFound):
		return 404
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrConflict):
		return 409
	case errors.Is(err, ErrInvalid):
		return 400
	case errors.Is(err, ErrPermission):
		return 403
	case errors.Is(err, ErrNotImplemented):
		return 501
	case errors.Is(err, ErrUnavailable):
		return 503
	default:
		return 500
	}
}
