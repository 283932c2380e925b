package trusted

import (
	"errors"
	"fmt"
)

// Errors wrapped by those of [ReadFile] and [CheckDir].
var (
	ErrUntrusted  = errors.New("not trusted: writable by others than root and the caller")
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("too large")
)

// Error is a file or directory refused, printed as "PATH: MSG", or MSG when
// the caller names the path itself.
type Error struct {
	Path string
	Msg  string
	Err  error // ErrUntrusted, ErrNotRegular or ErrTooLarge
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}
func (e *Error) Unwrap() error { return e.Err }

func refuse(err error, path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...), Err: err}
}
