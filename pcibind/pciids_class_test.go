package pcibind

import (
	"os"
	"path/filepath"
	"testing"
)

// Class names as lspci prints them: the subclass, not the programming
// interface (a root port is a "PCI bridge", not "Normal decode").
func TestClassNameAsLspci(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pci.ids")
	os.WriteFile(p, []byte("8086  Intel Corporation\nC 01  Mass storage controller\n\t08  Non-Volatile memory controller\n\t\t02  NVM Express\n"+
		"C 06  Bridge\n\t00  Host bridge\n\t04  PCI bridge\n\t\t00  Normal decode\n\t\t01  Subtractive decode\nC 0c  Serial bus controller\n"), 0o644)
	ids := loadPciIDs(p)
	for class, want := range map[uint32]string{
		0x060400: "PCI bridge",
		0x060401: "PCI bridge",
		0x060000: "Host bridge",
		0x010802: "Non-Volatile memory controller",
		0x0c0330: "Serial bus controller", // subclass not in the file: the base class
		0x0d0000: "",
	} {
		if got := ids.className(class); got != want {
			t.Errorf("class %06x: %q, want %q", class, got, want)
		}
	}
}
