package hotplug

import (
	"fmt"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// OwnerKind says who holds a host PCI function.
type OwnerKind int

const (
	OwnedByDom0Driver OwnerKind = iota // bound to a dom0 driver
	OwnedByNobody                      // in dom0 with no driver
	OwnedByPciback                     // assignable: on pciback, in no domain
	OwnedByDomain                      // given to a domain by libxl
)

// Owner of one function.
type Owner struct {
	Kind    OwnerKind
	Driver  string // the dom0 driver, for OwnedByDom0Driver
	Domid   uint32 // for OwnedByDomain
	DomName string
}

func (o Owner) String() string {
	switch o.Kind {
	case OwnedByDom0Driver:
		return fmt.Sprintf("dom0 driver %s", o.Driver)
	case OwnedByNobody:
		return "dom0 (no driver)"
	case OwnedByPciback:
		return "pciback (assignable, in no domain)"
	}
	if o.DomName != "" {
		return fmt.Sprintf("domain %d (%s)", o.Domid, o.DomName)
	}
	return fmt.Sprintf("domain %d", o.Domid)
}

// Word names the owner's kind in one word for scripts (snake_case, as
// every enumeration of xlpt's JSON): "dom0_driver", "none" (in dom0,
// no driver), "assignable" (on pciback, in no domain) or "domain".
func (o Owner) Word() string {
	switch o.Kind {
	case OwnedByDom0Driver:
		return "dom0_driver"
	case OwnedByNobody:
		return "none"
	case OwnedByPciback:
		return "assignable"
	}
	return "domain"
}

// owners knows who holds each function: sysfs drivers for dom0, libxl for
// domains. libxl gives a domain only functions bound to pciback, so only
// about those is libxl asked, and lazily: first its assignable list (on
// pciback and in no domain); only for a function on pciback but not in
// that list, the domains' PCI lists. Through Memo each list is asked for
// once per run.
type owners struct {
	ts         Toolstack
	host       *pcibind.Host
	assignable map[xl.PciBdf]bool  // nil until asked
	assigned   map[xl.PciBdf]Owner // nil until asked
}

func (o *owners) of(b xl.PciBdf) (Owner, error) {
	d, ok := o.host.Device(b)
	switch {
	case ok && pcibind.IsPciback(d.Driver):
	case !ok || d.Driver == "":
		return Owner{Kind: OwnedByNobody}, nil
	default:
		return Owner{Kind: OwnedByDom0Driver, Driver: d.Driver}, nil
	}
	if o.assignable == nil {
		list, err := o.ts.PciAssignableList()
		if err != nil {
			return Owner{}, fmt.Errorf("list assignable devices: %w", err)
		}
		o.assignable = map[xl.PciBdf]bool{}
		for _, a := range list {
			o.assignable[a.PciBdf] = true
		}
	}
	if o.assignable[b] {
		return Owner{Kind: OwnedByPciback}, nil
	}
	if err := o.loadAssigned(); err != nil {
		return Owner{}, err
	}
	if ow, ok := o.assigned[b]; ok {
		return ow, nil
	}
	return Owner{Kind: OwnedByPciback}, nil // on pciback, unknown to libxl
}

// loadAssigned asks libxl which domain holds which function.
func (o *owners) loadAssigned() error {
	if o.assigned != nil {
		return nil
	}
	doms, err := o.ts.ListDomains()
	if err != nil {
		return fmt.Errorf("list domains: %w", err)
	}
	assigned := map[xl.PciBdf]Owner{}
	for _, dom := range doms {
		if dom.Domid == 0 {
			continue
		}
		devs, err := o.ts.PciList(dom.Domid)
		if err != nil {
			return fmt.Errorf("list PCI devices of domain %d: %w", dom.Domid, err)
		}
		for _, d := range devs {
			assigned[d.PciBdf] = Owner{Kind: OwnedByDomain, Domid: dom.Domid, DomName: dom.Name}
		}
	}
	o.assigned = assigned
	return nil
}

// loadOwners returns the owners of functions, asking libxl only when a
// question needs it.
func loadOwners(ts Toolstack, host *pcibind.Host) (*owners, error) {
	return &owners{ts: ts, host: host}, nil
}

// Owners returns who holds a host function: a domain (from libxl), pciback,
// or a dom0 driver. libxl is asked only about functions on pciback, once
// per list; pass a Memo to share its answers with other rules.
func Owners(ts Toolstack, host *pcibind.Host) func(xl.PciBdf) (Owner, error) {
	o, _ := loadOwners(ts, host)
	return o.of
}
