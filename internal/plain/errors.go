package plain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// Error is err's message with the Go wording of what it wraps
// (file errors, JSON syntax errors) put in plain words.
func Error(err error) string {
	msg := err.Error()
	walkErrors(err, func(e error) {
		var plain string
		switch e := e.(type) {
		case *fs.PathError:
			plain = pathError(e.Op, e.Path, e.Err)
		case *json.SyntaxError:
			plain = fmt.Sprintf("not valid JSON at byte %d", e.Offset)
		case *json.UnmarshalTypeError:
			plain = fmt.Sprintf("not what was expected in JSON: %s at byte %d should be %s, not %s", e.Field, e.Offset, e.Type, e.Value)
		default:
			return
		}
		msg = strings.ReplaceAll(msg, e.Error(), plain)
	})
	return msg
}

// walkErrors calls fn on err and everything it wraps.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	}
}

// pathError says what went wrong with a path without the system
// call's name: "/x does not exist", not "open /x: no such file or
// directory".
func pathError(op, path string, err error) string {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist"
	case errno == syscall.EISDIR:
		return path + " is a directory, not a file"
	case errno == syscall.ENOTDIR:
		return path + ": a part of the path is not a directory"
	case errors.Is(err, fs.ErrPermission):
		return path + ": permission denied (xlpt needs root for this)"
	case errno == syscall.EROFS:
		return path + " is on a read-only file system"
	case errno == syscall.ENOSPC:
		return path + ": no space left on its file system"
	}
	return fmt.Sprintf("cannot %s %s: %v", op, path, err)
}
