package hotplug

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// BenchmarkAttachPreflight is one xlpt pci-attach run against the fake
// toolstack on pcitest.Large hosts of 20 to 4,096 functions: a fresh
// targeted host view (pcibind.Read) and Memo per iteration, as a CLI run
// has, then the whole Attach (every rule, then the fake's add) and a
// Detach to put the device back. Attach of a VF (SR-IOV links) and of a
// conventional device with --group (same-domain group), to a PV and an
// HVM guest. It must not grow with the host.
func BenchmarkAttachPreflight(b *testing.B) {
	for _, n := range []int{20, 256, 1024, 4096} {
		dir := pcitest.TempDir(b)
		tr, err := pcitest.Generate(dir, pcitest.Large(n))
		if err != nil {
			b.Fatal(err)
		}
		ts := newFake()
		ts.addDomain(1, "hvm1", xl.DomainTypeHVM)
		ts.addDomain(3, "pv1", xl.DomainTypePV)
		// The devices attached (the last VF, the conventional group) are
		// on pciback and assignable; the rest of the host keeps its drivers.
		var vf, conv xl.PciBdf
		for _, f := range tr.Funcs {
			switch {
			case f.IsVF:
				vf = f.BDF
			case f.Kind == pcitest.PCIDevice:
				toPciback(b, tr, f)
				ts.pciback[f.BDF] = ""
				if conv == (xl.PciBdf{}) {
					conv = f.BDF
				}
			}
		}
		for _, f := range tr.Funcs {
			if f.BDF == vf {
				toPciback(b, tr, f)
				ts.pciback[f.BDF] = ""
			}
		}
		sys := pcibind.New(dir, pcibind.WithPciIDs(""))
		quiet := logrus.New()
		quiet.Out = io.Discard
		slots, err := ParseSlotRange("6-f") // a group of 4 takes 4 guest slots
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			dev   xl.PciBdf
			group bool
		}{{"vf", vf, false}, {"conventional-group", conv, true}} {
			for _, dom := range []string{"pv1", "hvm1"} {
				b.Run(fmt.Sprintf("%s/%s/funcs=%d", c.name, dom, n), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						host, err := sys.Read(c.dev)
						if err != nil {
							b.Fatal(err)
						}
						svc := &Service{ts: Memo(ts), host: host, slots: slots, dm: fakeDM{ts},
							checks: []deviceCheck{{"msi check", MsiCheck(host)}}, logger: stdLogger{quiet}}
						d := xl.NewDevicePci()
						d.PciBdf, d.VfuncMask = c.dev, 1
						res, err := svc.Attach(AttachRequest{Domain: dom, Device: d, Group: c.group})
						if err != nil {
							b.Fatal(err)
						}
						for _, a := range res.Attached {
							if err := ts.PciRemove(res.Domain.Domid, a); err != nil {
								b.Fatal(err)
							}
						}
					}
				})
			}
		}
	}
}

// toPciback binds a generated function to pciback, as far as reads see.
func toPciback(b *testing.B, tr *pcitest.Tree, f *pcitest.Func) {
	link := filepath.Join(tr.Root, f.Path, "driver")
	rel, err := filepath.Rel(filepath.Dir(link), filepath.Join(tr.Root, "bus/pci/drivers", pcibind.DriverPciback))
	if err == nil {
		os.Remove(link)
		err = os.Symlink(rel, link)
	}
	if err != nil {
		b.Fatal(err)
	}
}
