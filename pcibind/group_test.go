package pcibind_test

import (
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// groupOf returns the conventional devices of Sample's bridge group
// from the topology, not from pcibind.
func groupOf(f *bfix) []xl.PciBdf {
	var out []xl.PciBdf
	for _, fn := range f.tree.Funcs {
		if fn.Kind == pcitest.PCIDevice {
			out = append(out, fn.BDF)
		}
	}
	return out
}

func TestSplitGroupsAndCmdline(t *testing.T) {
	f := newBfix(t)
	h, err := f.s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	group := groupOf(f)
	if msgs := h.SplitGroups(group); len(msgs) != 0 {
		t.Errorf("whole group reported split: %v", msgs)
	}
	msgs := h.SplitGroups(group[:1])
	if len(msgs) != 1 || !strings.Contains(msgs[0], group[1].String()) {
		t.Errorf("split group: %v", msgs)
	}
	got := pcibind.HideCmdline([]xl.PciBdf{group[1], group[0], group[1]})
	want := "xen-pciback.hide=(" + group[0].String() + ")(" + group[1].String() + ")"
	if got != want {
		t.Errorf("HideCmdline = %q, want %q", got, want)
	}
}
