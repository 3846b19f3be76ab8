package hotplug

import (
	"fmt"

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

// owners knows who holds each function: libxl's per-domain PCI lists for
// domains, sysfs drivers for dom0.
type owners struct {
	assigned map[xl.PciBdf]Owner
	host     Host
}

func (o *owners) of(b xl.PciBdf) Owner {
	if ow, ok := o.assigned[b]; ok {
		return ow
	}
	d, ok := o.host.Device(b)
	switch {
	case !ok || d.Driver == "":
		return Owner{Kind: OwnedByNobody}
	case d.Driver == "pciback" || d.Driver == "xen-pciback":
		return Owner{Kind: OwnedByPciback}
	}
	return Owner{Kind: OwnedByDom0Driver, Driver: d.Driver}
}

// loadOwners asks libxl which domain holds which function.
func loadOwners(ts Toolstack, host Host) (*owners, error) {
	o := &owners{assigned: map[xl.PciBdf]Owner{}, host: host}
	doms, err := ts.ListDomains()
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	for _, dom := range doms {
		if dom.Domid == 0 {
			continue
		}
		devs, err := ts.PciList(dom.Domid)
		if err != nil {
			return nil, fmt.Errorf("list PCI devices of domain %d: %w", dom.Domid, err)
		}
		for _, d := range devs {
			o.assigned[d.PciBdf] = Owner{Kind: OwnedByDomain, Domid: dom.Domid, DomName: dom.Name}
		}
	}
	return o, nil
}

// Owners returns who holds each host function: a domain (from libxl's
// per-domain lists), pciback, or a dom0 driver.
func Owners(ts Toolstack, host Host) (func(xl.PciBdf) Owner, error) {
	o, err := loadOwners(ts, host)
	if err != nil {
		return nil, err
	}
	return o.of, nil
}
