//go:build linux && cgo && !xlpt_release

package xenlight

import (
	"debug/elf"
	"os"
	"strings"
	"testing"
)

// libxl is loaded on first use, every symbol the binding calls found.
func TestLoadFindsEverySymbol(t *testing.T) {
	if err := load(); err != nil {
		t.Fatal(err)
	}
}

// The binding links none of Xen's libraries: a command that never calls
// libxl does not make the dynamic loader map them at start.
func TestBinaryLinksNoXenLibrary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if strings.HasPrefix(l, "libxen") || strings.HasPrefix(l, "libxl") {
			t.Errorf("the binary links %s (all: %v): libxl must be loaded on first use (dl.go)", l, libs)
		}
	}
}
