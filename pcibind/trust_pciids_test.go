package pcibind

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 25: pci.ids is mapped for speed; truncated in place while
// mapped, its pages past the new end fault (SIGBUS). A lookup there
// gives no name instead of killing the process.
func TestPciIDsTruncatedWhileMappedGivesNoNames(t *testing.T) {
	var b strings.Builder
	for v := 0x1000; v < 0x1400; v++ { // some 40 KB: several pages
		fmt.Fprintf(&b, "%04x  Vendor %04x\n\t0001  Device one of %04x\n", v, v, v)
	}
	b.WriteString("C 02  Network controller\n\t00  Ethernet controller\n")
	path := filepath.Join(t.TempDir(), "pci.ids")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := loadPciIDs(path)
	if vn, dn := ids.names(0x1001, 1); vn != "Vendor 1001" || dn != "Device one of 1001" {
		t.Fatalf("names before: %q %q", vn, dn)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	vn, dn := ids.names(0x13ff, 1) // on a page past the new end
	cn := ids.className(0x020000)
	if vn != "" || dn != "" || cn != "" {
		t.Errorf("names from a truncated file: %q %q %q", vn, dn, cn)
	}
	if vn, _ := ids.names(0x1001, 1); vn != "Vendor 1001" {
		t.Errorf("a name looked up before the truncation is lost: %q", vn)
	}
}
