package pcibind

import "testing"

// FuzzPciIDs looks names up in any pci.ids: never a panic (issue 25).
func FuzzPciIDs(f *testing.F) {
	f.Add([]byte("# comment\n8086  Intel Corporation\n\t10d3  82574L Gigabit Network Connection\n\t\t8086 0000  sub\nC 02  Network controller\n\t00  Ethernet controller\n"))
	f.Add([]byte("8086\n\t10d\nC 0\n\t0"))
	f.Add([]byte("ffff  x\n\tffff  y\nC ff  z\n\tff  w\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &pciIDs{data: data, vendors: map[uint16]int{}, classes: -1, cache: map[uint32][2]string{}, ccache: map[uint32]string{}}
		p.safely(p.index)
		for _, v := range []uint16{0x8086, 0xffff, 0} {
			p.names(v, 0x10d3)
			p.names(v, 0xffff)
		}
		for _, c := range []uint32{0x020000, 0xffffff, 0} {
			p.className(c)
		}
	})
}
