package pcibind_test

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xenlight"
)

// groupOf returns the conventional devices of Sample's bridge group
// from the topology, not from pcibind.
func groupOf(f *bfix) []xenlight.PciBdf {
	var out []xenlight.PciBdf
	for _, fn := range f.tree.Funcs {
		if fn.Kind == pcitest.PCIDevice {
			out = append(out, fn.BDF)
		}
	}
	return out
}

func TestHideGroup(t *testing.T) {
	f := newBfix(t)
	h, err := f.s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	group := groupOf(f)
	b := group[0]
	before := f.snap()

	_, err = f.s.HideGroup(h, b, pcibind.DriverPciback, "", false, nil, false)
	if !errors.Is(err, pcibind.ErrRefused) || !strings.Contains(err.Error(), group[1].String()) {
		t.Errorf("split group not refused with the sibling named: %v", err)
	}
	n := len(f.k.Writes)
	hidden, err := f.s.HideGroup(h, b, pcibind.DriverPciback, "", true, nil, false)
	if err != nil || !reflect.DeepEqual(hidden, group) {
		t.Fatalf("HideGroup = %v, %v; want %v", hidden, err, group)
	}
	steps := len(f.k.Writes) - n
	for _, m := range group {
		if d := f.k.Driver(m); d != pcibind.DriverPciback {
			t.Errorf("%s on %q after group hide", m, d)
		}
		if err := f.s.GiveBack(m); err != nil {
			t.Fatal(err)
		}
	}
	if after := f.snap(); !reflect.DeepEqual(after, before) {
		t.Fatalf("give back of the group did not restore the host")
	}
	// Fault at the last write of the group hide: all members come back.
	f.k.FailNth(len(f.k.Writes)+steps-1, pcitest.Fault{Err: syscall.EIO})
	if _, err := f.s.HideGroup(h, b, pcibind.DriverPciback, "", true, nil, false); err == nil {
		t.Fatal("faulted group hide succeeded")
	}
	if after := f.snap(); !reflect.DeepEqual(after, before) {
		t.Errorf("faulted group hide left the host changed:\n%+v\nwant\n%+v", after, before)
	}
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
	got := pcibind.HideCmdline([]xenlight.PciBdf{group[1], group[0], group[1]})
	want := "xen-pciback.hide=(" + group[0].String() + ")(" + group[1].String() + ")"
	if got != want {
		t.Errorf("HideCmdline = %q, want %q", got, want)
	}
}
