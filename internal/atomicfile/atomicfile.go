// Package atomicfile replaces a file so that a reader, or a run after a
// crash, sees the old content or the new, never a part: temp file in the
// same directory, fsync, rename, fsync of the directory. xlpt's intent
// journal and pcibind's undo records are written with it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile replaces p with data. Without sync it skips the fsyncs
// (still atomic against a crash of the process, not of the machine).
func WriteFile(p string, data []byte, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if !sync {
		return nil
	}
	return SyncDir(filepath.Dir(p))
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
