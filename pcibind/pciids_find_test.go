package pcibind

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// pci.ids is looked up where distributions put it (Debian's
// /usr/share/misc first, /usr/share/hwdata elsewhere), or given.
func TestFindPciIDs(t *testing.T) {
	dir := t.TempDir()
	misc, hwdata := filepath.Join(dir, "misc/pci.ids"), filepath.Join(dir, "hwdata/pci.ids")
	paths := []string{misc, hwdata}
	if got := FindPciIDs("", paths); got != "" {
		t.Errorf("none there: %q", got)
	}
	os.MkdirAll(filepath.Dir(hwdata), 0o755)
	os.WriteFile(hwdata, []byte("8086  Intel Corporation\n"), 0o644)
	if got := FindPciIDs("", paths); got != hwdata {
		t.Errorf("hwdata only: %q", got)
	}
	os.MkdirAll(filepath.Dir(misc), 0o755)
	os.WriteFile(misc, []byte("8086  Intel Corporation\n"), 0o644)
	if got := FindPciIDs("", paths); got != misc {
		t.Errorf("both: %q, want Debian's first", got)
	}
	if got := FindPciIDs("/x/pci.ids", paths); got != "/x/pci.ids" {
		t.Errorf("given: %q", got)
	}
	if !slices.Contains(PciIDsPaths, "/usr/share/hwdata/pci.ids") || !slices.Contains(PciIDsPaths, "/usr/share/misc/pci.ids") {
		t.Errorf("usual places %v", PciIDsPaths)
	}
}
