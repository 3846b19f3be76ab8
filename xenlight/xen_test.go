//go:build xen && linux && cgo && !xlpt_release

package xenlight

// Tests against a real Xen dom0 (the testbed): go test -tags xen ./xenlight/
// as root. The attach/detach test also needs
//
//	XLPT_TEST_DOMAIN=<guest>  XLPT_TEST_BDF=<0000:00:04.0, assignable>
//
// and leaves the device as it found it.

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/xlpt/xlpt/xl"
)

func openXen(t *testing.T) *Context {
	t.Helper()
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	c, err := Open(WithLogger(l))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func TestXenPhysInfo(t *testing.T) {
	c := openXen(t)
	pi, err := c.PhysInfo()
	if err != nil {
		t.Fatal(err)
	}
	if pi.NrCPUs == 0 || pi.TotalPages == 0 || pi.FreePages > pi.TotalPages {
		t.Errorf("implausible: %+v", pi)
	}
	t.Logf("physinfo: %+v", pi)
}

func TestXenDomains(t *testing.T) {
	c := openXen(t)
	doms, err := c.ListDomains()
	if err != nil {
		t.Fatal(err)
	}
	var dom0 *xl.DomainInfo
	for i := range doms {
		t.Logf("%5d %-20s %s %s %d KiB", doms[i].Domid, doms[i].Name, doms[i].Type, doms[i].Flags(), doms[i].CurrentMemKB)
		if doms[i].Domid == 0 {
			dom0 = &doms[i]
		}
	}
	if dom0 == nil {
		t.Fatal("domain 0 not listed")
	}
	if dom0.Name != "Domain-0" || dom0.CurrentMemKB == 0 {
		t.Errorf("dom0: %+v", *dom0)
	}
	info, err := c.DomainInfo(0)
	if err != nil || info.Name != "Domain-0" {
		t.Errorf("DomainInfo(0) = %+v, %v", info, err)
	}
	for _, q := range []string{"0", "Domain-0"} {
		if id, err := c.DomainQualifierToID(q); err != nil || id != 0 {
			t.Errorf("DomainQualifierToID(%q) = %d, %v", q, id, err)
		}
	}
	for _, q := range []string{"no-such-domain-xlpt", "32000"} {
		if _, err := c.DomainQualifierToID(q); !errors.Is(err, xl.ErrDomainNotFound) {
			t.Errorf("DomainQualifierToID(%q): %v, want ErrDomainNotFound", q, err)
		}
	}
	if _, err := c.DomainInfo(32000); !errors.Is(err, xl.ErrDomainNotFound) {
		t.Errorf("DomainInfo(32000): %v", err)
	}
	if ds, err := c.PciList(0); err != nil || len(ds) != 0 {
		t.Errorf("PciList(0) = %v, %v", ds, err)
	}
	if _, err := c.PciList(32000); !errors.Is(err, xl.ErrDomainNotFound) {
		t.Errorf("PciList(32000): %v", err)
	}
}

func TestXenAssignableAndRdm(t *testing.T) {
	c := openXen(t)
	ds, err := c.PciAssignableList()
	if err != nil {
		t.Fatalf("PciAssignableList: %v", err)
	}
	for _, d := range ds {
		t.Logf("assignable %s name=%q", d.PciBdf, d.Name)
	}
	rs, err := c.ReservedDeviceMemory()
	if err != nil {
		t.Fatalf("ReservedDeviceMemory: %v", err)
	}
	for _, r := range rs {
		t.Logf("rdm %#x-%#x", r.Start(), r.End())
	}
	for _, d := range ds {
		if _, err := c.DeviceReservedMemory(d.PciBdf); err != nil {
			t.Errorf("DeviceReservedMemory(%s): %v", d.PciBdf, err)
		}
	}
	// libxl_device_pci_copy with a real ctx, as the plain tests do with a
	// stand-in.
	for name, d := range devicePciCases {
		if got := devicePciCopyViaLibxl(c, d); got != d {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestXenAttachDetach(t *testing.T) {
	dom, bdf := os.Getenv("XLPT_TEST_DOMAIN"), os.Getenv("XLPT_TEST_BDF")
	if dom == "" || bdf == "" {
		t.Skip("set XLPT_TEST_DOMAIN and XLPT_TEST_BDF")
	}
	c := openXen(t)
	domid, err := c.DomainQualifierToID(dom)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.DomainConfig(domid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("config: %+v", cfg)
	var b xl.PciBdf
	if _, err := fmt.Sscanf(bdf, "%04x:%02x:%02x.%x", &b.Domain, &b.Bus, &b.Dev, &b.Func); err != nil {
		t.Fatalf("XLPT_TEST_BDF %q: %v", bdf, err)
	}
	d := xl.NewDevicePci()
	d.PciBdf = b
	d.VfuncMask = 1
	if err := c.PciAdd(domid, d); err != nil {
		t.Fatalf("PciAdd: %v", err)
	}
	list, err := c.PciList(domid)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range list {
		found = found || x.PciBdf == b
	}
	if !found {
		t.Errorf("%s not in PciList after PciAdd: %+v", b, list)
	}
	if err := c.PciRemove(domid, d); err != nil {
		t.Logf("PciRemove: %v; forcing", err)
		if err := c.PciDestroy(domid, d); err != nil {
			t.Fatalf("PciDestroy: %v", err)
		}
	}
}
