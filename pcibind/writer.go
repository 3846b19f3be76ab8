package pcibind

import (
	"fmt"
	"os"
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

// writeAttr writes beneath the root through the configured writer.
func (s *Sysfs) writeAttr(rel, value string) error {
	return s.w.WriteAttr(s.Path(rel), value)
}
