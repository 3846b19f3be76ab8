package pcibind_test

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
)

var benchSizes = []int{256, 1024, 4096}

func TestLargeExact(t *testing.T) {
	for _, n := range []int{16, 100, 300, 4096} {
		for name, topo := range map[string]pcitest.Topology{"Large": pcitest.Large(n), "Wide": pcitest.Wide(n)} {
			tr, err := pcitest.Generate(pcitest.TempDir(t), topo)
			if err != nil {
				t.Fatalf("%s(%d): %v", name, n, err)
			}
			if len(tr.Funcs) != n {
				t.Errorf("%s(%d) made %d functions", name, n, len(tr.Funcs))
			}
		}
	}
}

// BenchmarkScan times a full scan (names from pci.ids included; the
// database is read once per process, as in a CLI run).
func BenchmarkScan(b *testing.B) {
	for _, n := range benchSizes {
		dir := pcitest.TempDir(b)
		if _, err := pcitest.Generate(dir, pcitest.Large(n)); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("funcs=%d", n), func(b *testing.B) {
			s := pcibind.New(dir)
			for i := 0; i < b.N; i++ {
				h, err := s.Scan()
				if err != nil || len(h.Devices) != n {
					b.Fatalf("scan: %v (%d devices)", err, len(h.Devices))
				}
			}
		})
		b.Run(fmt.Sprintf("lspci-vvv-n/funcs=%d", n), func(b *testing.B) {
			if _, err := exec.LookPath("lspci"); err != nil {
				b.Skip("no lspci")
			}
			for i := 0; i < b.N; i++ {
				cmd := exec.Command("lspci", "-A", "linux-sysfs", "-O", "sysfs.path="+dir+"/bus/pci", "-vvv", "-n")
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
