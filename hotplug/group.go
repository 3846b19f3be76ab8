package hotplug

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// GroupError refuses a request that would split a same-domain group:
// conventional PCI functions behind one PCIe-to-PCI (or legacy PCI)
// bridge share a requester ID upstream of it, so the IOMMU cannot keep
// them apart and Xen must not give them to different domains. Xen 4.17
// and libxl do not check this.
type GroupError struct {
	Device   xl.PciBdf
	Bridge   xl.PciBdf
	Domain   string
	Blocking []Sibling
}

// Sibling is a member of the group and who holds it.
type Sibling struct {
	BDF   xl.PciBdf
	Owner Owner
}

func (e *GroupError) Error() string {
	var held []string
	elsewhere := false
	for _, s := range e.Blocking {
		held = append(held, fmt.Sprintf("%s is held by %s", s.BDF, s.Owner))
		if s.Owner.Kind == OwnedByDomain {
			elsewhere = true
		}
	}
	fix := "attach the whole group with --group (add --assign to take siblings from dom0 drivers)"
	if elsewhere {
		fix = "detach the siblings from their domain first, then attach the whole group with --group"
	}
	return fmt.Sprintf("%s is conventional PCI behind bridge %s: every device behind it must go to the same domain, but %s; %s",
		e.Device, e.Bridge, strings.Join(held, ", "), fix)
}

// checkGroup enforces the same-domain rule for functions being attached
// to domid: every other member of each function's group must already
// belong to domid or be in the request.
func checkGroup(host *pcibind.Host, own *owners, domid uint32, domName string, request []xl.PciBdf) error {
	inRequest := map[xl.PciBdf]bool{}
	for _, b := range request {
		inRequest[b] = true
	}
	for _, b := range request {
		group := host.Group(b)
		if len(group) < 2 {
			continue // PCIe, or alone behind its bridge
		}
		var blocking []Sibling
		for _, m := range group {
			if inRequest[m] {
				continue
			}
			ow, err := own.of(m)
			if err != nil {
				return err
			}
			if ow.Kind != OwnedByDomain || ow.Domid != domid {
				blocking = append(blocking, Sibling{m, ow})
			}
		}
		if len(blocking) > 0 {
			br, _ := host.GroupBridge(b)
			return &GroupError{Device: b, Bridge: br, Domain: domName, Blocking: blocking}
		}
	}
	return nil
}
