package pcibind_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
)

// extractTree unpacks a scripts/capture-sysfs tarball; it returns the
// sys and proc roots.
func extractTree(t *testing.T, tarball string) (sys, proc string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			t.Fatalf("%s: entry %q leaves the tree", tarball, h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(h.Linkname, p)
			}
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				var data []byte
				if data, err = io.ReadAll(tr); err == nil {
					err = os.WriteFile(p, data, 0o644)
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "sys"), filepath.Join(dir, "proc")
}

// TestRecordedTrees replays every captured host under testdata/sysfs:
// the scan must agree with lspci on the same files, and the safety
// check must name only functions that exist there.
func TestRecordedTrees(t *testing.T) {
	tarballs, _ := filepath.Glob("testdata/sysfs/*.tar.gz")
	if len(tarballs) == 0 {
		t.Fatal("no recorded trees in testdata/sysfs")
	}
	for _, tb := range tarballs {
		t.Run(filepath.Base(tb), func(t *testing.T) {
			sys, proc := extractTree(t, tb)
			s := pcibind.New(sys, pcibind.WithProcRoot(proc))
			h, err := s.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Devices) == 0 {
				t.Fatal("no devices")
			}
			if n := compareWithLspci(t, h, runLspci(t, sys)); n < 5*len(h.Devices) {
				t.Errorf("only %d facts compared for %d devices", n, len(h.Devices))
			}
			uses, err := s.InUse()
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range uses {
				if _, ok := h.Device(u.BDF); !ok {
					t.Errorf("in use: %v is not in the tree", u)
				}
			}
			t.Logf("%d functions, in use: %v", len(h.Devices), uses)
		})
	}
}
