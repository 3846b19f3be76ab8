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
// about those is libxl asked, and lazily: first libxl's own record of the
// function in xenstore (PciXsDomid: none means assignable, as libxl's
// assignable list says, for one xenstore read instead of the list); only
// for a function on pciback that libxl records as given, the domains' PCI
// lists, to name the domain as libxl lists it. Through Memo each list
// and record is asked for once per run.
type owners struct {
	ts         Toolstack
	host       *pcibind.Host
	assignable map[xl.PciBdf]bool  // libxl's test, per function asked
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
	free, err := o.libxlAssignable(b)
	if err != nil {
		return Owner{}, err
	}
	if free {
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

// libxlAssignable is libxl's test of a function bound to pciback: it is
// in libxl's assignable list when libxl records no domain for it.
func (o *owners) libxlAssignable(b xl.PciBdf) (bool, error) {
	if v, ok := o.assignable[b]; ok {
		return v, nil
	}
	_, held, err := o.ts.PciXsDomid(b)
	if err != nil {
		return false, fmt.Errorf("read libxl's record of %s: %w", b, err)
	}
	if o.assignable == nil {
		o.assignable = map[xl.PciBdf]bool{}
	}
	o.assignable[b] = !held
	return !held, nil
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
