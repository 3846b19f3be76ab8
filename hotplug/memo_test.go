package hotplug

import (
	"fmt"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// countingTS counts libxl's queries by name (and domain).
type countingTS struct {
	Toolstack
	n map[string]int
}

func counting(ts Toolstack) *countingTS { return &countingTS{Toolstack: ts, n: map[string]int{}} }

func (c *countingTS) DomainQualifierToID(q string) (uint32, error) {
	c.n["DomainQualifierToID "+q]++
	return c.Toolstack.DomainQualifierToID(q)
}
func (c *countingTS) DomainInfo(id uint32) (xl.DomainInfo, error) {
	c.n[fmt.Sprint("DomainInfo ", id)]++
	return c.Toolstack.DomainInfo(id)
}
func (c *countingTS) DomainConfig(id uint32) (xl.DomainConfig, error) {
	c.n[fmt.Sprint("DomainConfig ", id)]++
	return c.Toolstack.DomainConfig(id)
}
func (c *countingTS) ListDomains() ([]xl.DomainInfo, error) {
	c.n["ListDomains"]++
	return c.Toolstack.ListDomains()
}
func (c *countingTS) PhysInfo() (xl.PhysInfo, error) {
	c.n["PhysInfo"]++
	return c.Toolstack.PhysInfo()
}
func (c *countingTS) PciList(id uint32) ([]xl.DevicePci, error) {
	c.n[fmt.Sprint("PciList ", id)]++
	return c.Toolstack.PciList(id)
}
func (c *countingTS) PciAssignableList() ([]xl.DevicePci, error) {
	c.n["PciAssignableList"]++
	return c.Toolstack.PciAssignableList()
}
func (c *countingTS) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	c.n["PciXsDomid "+b.String()]++
	return c.Toolstack.PciXsDomid(b)
}

// onceEach fails for a query asked more than allowed (1 unless given).
func (c *countingTS) onceEach(t *testing.T, what string, allow map[string]int) {
	t.Helper()
	for k, n := range c.n {
		max, ok := allow[k]
		if !ok {
			max = 1
		}
		if n > max {
			t.Errorf("%s: %s asked %d times, want at most %d (all: %v)", what, k, n, max, c.n)
		}
	}
}

// TestAttachAsksEachQueryOnce: through Memo, an attach asks each of
// libxl's queries once; the target's PCI list a second time only after
// the add changed it. A device that is assignable needs no domain list
// and no assignable list (libxl's record of it in xenstore, one read,
// says the same), and an attach that succeeds no domain configuration
// (read only to explain a failure, or for a rule that needs it).
func TestAttachAsksEachQueryOnce(t *testing.T) {
	for _, tc := range []struct {
		dom, dev string
		group    bool
		domid    uint32
	}{{"hvm1", "nic1", false, 1}, {"pv1", "nic2", false, 3}, {"hvm2", "old1", true, 2}} {
		w := newWorld(t, nil)
		c := counting(w.ts)
		w.svc.ts = Memo(c)
		res, err := w.svc.Attach(AttachRequest{Domain: tc.dom, Device: w.spec(tc.dev, 0), Group: tc.group})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Attached) == 0 {
			t.Errorf("%s: nothing reported attached: the list after the add was not asked again", tc.dev)
		}
		c.onceEach(t, "attach "+tc.dev, map[string]int{fmt.Sprint("PciList ", tc.domid): 2})
		if c.n["ListDomains"] != 0 || c.n["PciAssignableList"] != 0 || c.n[fmt.Sprint("DomainConfig ", tc.domid)] != 0 ||
			c.n["PciXsDomid "+w.bdf[tc.dev].String()] != 1 {
			t.Errorf("attach %s of an assignable device: %v; want libxl's record of it read once, and no domain list, assignable list or configuration", tc.dev, c.n)
		}
	}
}

// A device on pciback that is not assignable is held by some domain:
// then, and only then, the domains' lists are read, each once.
func TestAttachOfAHeldDeviceReadsDomainListsOnce(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.attach("hvm2", "nic1", 0); err != nil {
		t.Fatal(err)
	}
	c := counting(w.ts)
	w.svc.ts = Memo(c)
	_, err := w.attach("hvm1", "nic1", 0)
	mustFail(t, err, ErrAssignedElsewhere, "hvm2")
	c.onceEach(t, "attach of a held device", nil)
	if c.n["ListDomains"] != 1 || c.n["PciList 2"] != 1 {
		t.Errorf("queries %v; want the domain list and hvm2's PCI list once", c.n)
	}
}

func TestDetachAsksEachQueryOnce(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.attach("pv1", "nic1", 0); err != nil {
		t.Fatal(err)
	}
	c := counting(w.ts)
	w.svc.ts = Memo(c)
	if _, err := w.svc.Detach(DetachRequest{Domain: "pv1", Device: w.spec("nic1", 0)}); err != nil {
		t.Fatal(err)
	}
	c.onceEach(t, "detach", nil)
	if c.n["ListDomains"] != 0 || c.n["PciAssignableList"] != 0 {
		t.Errorf("detach asked %v", c.n)
	}
}

// A group member the target holds already is found through the domains'
// lists; the target's list is then read once before the add (and once
// after it). Without Memo it is read twice before: the tests above can
// fail.
func TestAttachOfAGroupWithMemberInTargetReadsItsListOnce(t *testing.T) {
	for _, memo := range []bool{true, false} {
		w := newWorld(t, nil)
		w.ts.place(2, w.spec("old2", 6)) // as a run that died between the group's adds leaves it
		c := counting(w.ts)
		w.svc.ts = c
		if memo {
			w.svc.ts = Memo(c)
		}
		if _, err := w.svc.Attach(AttachRequest{Domain: "hvm2", Device: w.spec("old1", 0), Group: true}); err != nil {
			t.Fatal(err)
		}
		want := 2 // before the add, and after it
		if !memo {
			want = 3
		}
		if c.n["PciList 2"] != want {
			t.Errorf("memo %v: hvm2's list read %d times; want %d (%v)", memo, c.n["PciList 2"], want, c.n)
		}
	}
}

// Hiding a device from a dom0 driver asks libxl no list: libxl gives a
// domain only devices on pciback.
func TestAssignableAddOfADom0DeviceAsksNoList(t *testing.T) {
	w := newBindWorld(t)
	c := counting(newFake())
	w.svc.ts = Memo(c)
	if _, err := w.svc.AssignableAdd(AssignableRequest{Device: w.free}); err != nil {
		t.Fatal(err)
	}
	if len(c.n) != 0 {
		t.Errorf("libxl queries %v; want none", c.n)
	}
}
