package pcibind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// AttrWriter writes one value to one sysfs attribute. Every change this
// package makes goes through it, so tests can put a simulated kernel
// (pcitest.Kernel) in place of the real one.
type AttrWriter interface {
	// WriteAttr writes value to the attribute at path (already joined
	// beneath the root). Errors should be *WriteError.
	WriteAttr(path, value string) error
}

// WriteError is a refused sysfs write; it carries the value, because a
// bare EINVAL from sysfs says nothing.
type WriteError struct {
	Path  string
	Value string
	Err   error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("write %q to %s: %v", e.Value, e.Path, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// FileWriter writes to real files: open without create or truncate (sysfs
// attributes exist or the write is meaningless), one write, close.
type FileWriter struct{}

// WriteAttr implements AttrWriter.
func (FileWriter) WriteAttr(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return &WriteError{Path: path, Value: value, Err: unwrapPathErr(err)}
	}
	_, err = f.Write([]byte(value))
	// sysfs reports some refusals only at close.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &WriteError{Path: path, Value: value, Err: unwrapPathErr(err)}
	}
	return nil
}

// unwrapPathErr keeps the errno and drops the duplicated path.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// writeAttr writes beneath the root through the configured writer; the
// real one is confined there by the kernel.
func (s *Sysfs) writeAttr(rel, value string) error {
	if _, ok := s.w.(FileWriter); ok {
		return writeBeneath(s.root, rel, value)
	}
	return s.w.WriteAttr(s.Path(rel), value)
}

// writeBeneath opens rel with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) from the root: no symlink (a planted one, or one
// in a recorded tree) can take a write outside the sysfs root, which the
// lexical join cannot promise. Kernels before 5.6 lack openat2; there
// the lexical join (Path) is the check, as before.
func writeBeneath(root, rel, value string) error {
	rel = strings.TrimPrefix(filepath.Clean("/"+rel), "/")
	full := filepath.Join(root, rel)
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &WriteError{Path: full, Value: value, Err: err}
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOSYS) {
		return FileWriter{}.WriteAttr(full, value)
	}
	if err != nil {
		return &WriteError{Path: full, Value: value, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	_, err = f.Write([]byte(value))
	// sysfs reports some refusals only at close.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &WriteError{Path: full, Value: value, Err: unwrapPathErr(err)}
	}
	return nil
}
