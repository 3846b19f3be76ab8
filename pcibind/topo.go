package pcibind

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// BridgeKind classifies a function by its place in the topology.
type BridgeKind int

const (
	NotBridge BridgeKind = iota
	HostBridge
	RootPort
	UpstreamPort
	DownstreamPort
	PCIeToPCIBridgeKind // PCIe type 7: conventional bus behind PCIe
	PCIToPCIeBridgeKind // PCIe type 8
	LegacyBridge        // class 0x0604 without a PCIe capability
	OtherBridge         // class 0x0604 with another PCIe type, or CardBus
	UnknownBridge       // class 0x0604 whose config could not be read
)

var bridgeKindNames = [...]string{"", "host-bridge", "root-port", "upstream-port",
	"downstream-port", "pcie-to-pci-bridge", "pci-to-pcie-bridge", "legacy-pci-bridge",
	"other-bridge", "unknown-bridge"}

func (k BridgeKind) String() string {
	if int(k) < len(bridgeKindNames) && k >= 0 {
		return bridgeKindNames[k]
	}
	return fmt.Sprintf("BridgeKind(%d)", int(k))
}

// MarshalText gives JSON the name.
func (k BridgeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// CapsKnown reports whether config space was read far enough to see the
// standard capability list (and so whether the function is PCIe).
func (d *Device) CapsKnown() bool { return len(d.Config) >= ConfigSizeLegacy }

// IsPCIe reports a PCI Express capability.
func (d *Device) IsPCIe() bool { return d.Caps.PCIe != nil }

// IsConventional reports a function known to lack a PCIe capability.
// With unreadable config (not root) it is false, and so is IsPCIe.
func (d *Device) IsConventional() bool { return d.CapsKnown() && d.Caps.PCIe == nil }

// BridgeKind classifies the function.
func (d *Device) BridgeKind() BridgeKind {
	switch {
	case d.IsHostBridge():
		return HostBridge
	case d.Class>>8 == classBridgeCardbs:
		return OtherBridge
	case !d.IsBridge():
		return NotBridge
	case !d.CapsKnown():
		return UnknownBridge
	case d.Caps.PCIe == nil:
		return LegacyBridge
	}
	switch d.Caps.PCIe.Type {
	case PCIeRootPort:
		return RootPort
	case PCIeUpstreamPort:
		return UpstreamPort
	case PCIeDownstreamPort:
		return DownstreamPort
	case PCIeToPCIBridge:
		return PCIeToPCIBridgeKind
	case PCIToPCIeBridge:
		return PCIToPCIeBridgeKind
	}
	return OtherBridge
}

// groupsBridge reports a bridge whose secondary side is conventional PCI,
// where requester IDs alias and so everything below must share a domain.
func (k BridgeKind) groupsBridge() bool { return k == PCIeToPCIBridgeKind || k == LegacyBridge }

// computeGroups finds, for every function, the topmost PCIe-to-PCI or
// legacy bridge above it: Xen's VT-d code maps that bridge's requester ID
// for whichever domain got a device below it last, so all devices below
// it belong to one domain.
func (h *Host) computeGroups() {
	h.groups = map[xl.PciBdf]xl.PciBdf{}
	h.members = map[xl.PciBdf][]xl.PciBdf{}
	for _, d := range h.Devices {
		if d.IsBridge() || d.IsHostBridge() {
			continue // bridges are never assigned; they are not members
		}
		for i := len(d.Parents) - 1; i >= 0; i-- {
			p, ok := h.byBDF[d.Parents[i]]
			if ok && p.BridgeKind().groupsBridge() {
				h.groups[d.BDF] = p.BDF
				h.members[p.BDF] = append(h.members[p.BDF], d.BDF)
				break
			}
		}
	}
}

// Group returns the same-domain group of a function: every non-bridge
// function below its topmost PCIe-to-PCI or legacy bridge, itself
// included, sorted. It is nil for a function not behind such a bridge
// (PCIe functions, integrated conventional ones).
func (h *Host) Group(b xl.PciBdf) []xl.PciBdf {
	defer h.locked()()
	return h.group(b)
}

func (h *Host) group(b xl.PciBdf) []xl.PciBdf {
	h.get(b)
	top, ok := h.groups[b]
	if !ok {
		return nil
	}
	return append([]xl.PciBdf(nil), h.members[top]...)
}

// GroupBridge returns the topmost conventional bridge that defines the
// function's group.
func (h *Host) GroupBridge(b xl.PciBdf) (xl.PciBdf, bool) {
	defer h.locked()()
	h.get(b)
	top, ok := h.groups[b]
	return top, ok
}

// Functions returns the functions of a slot (same segment, bus and
// device), sorted, VFs excluded (each has its own FLR).
func (h *Host) Functions(slot xl.PciBdf) []xl.PciBdf {
	defer h.locked()()
	return h.functions(slot)
}

func (h *Host) functions(slot xl.PciBdf) []xl.PciBdf {
	if h.lazy != nil {
		h.load(slot.Functions()...)
	}
	var out []xl.PciBdf
	for _, b := range slot.Functions() {
		if d, ok := h.byBDF[b]; ok && !d.IsVF() {
			out = append(out, b)
		}
	}
	return out
}

// Warning kinds.
const (
	WarnNoACS      = "no-acs"       // behind a switch downstream port lacking ACS
	WarnSharedRst  = "shared-reset" // multi-function endpoint without FLR
	WarnNoReset    = "no-reset"     // the kernel knows no way to reset it
	WarnUnreadable = "unreadable"   // config too short to check
)

// Warning is a caution about a function's isolation or reset.
type Warning struct {
	Kind    string      `json:"kind"`
	Message string      `json:"message"`
	Devices []xl.PciBdf `json:"devices,omitempty"` // the others involved
}

// Warnings returns the isolation and reset cautions for one function.
func (h *Host) Warnings(b xl.PciBdf) []Warning {
	defer h.locked()()
	d := h.get(b)
	if d == nil {
		return nil
	}
	var ws []Warning
	// Switch downstream ports without ACS let peer-to-peer traffic
	// between devices below the switch bypass the IOMMU.
	for _, pb := range d.Parents {
		p, ok := h.byBDF[pb]
		if !ok {
			continue
		}
		switch p.BridgeKind() {
		case DownstreamPort:
			if p.Caps.ACS == nil {
				ws = append(ws, Warning{Kind: WarnNoACS, Devices: []xl.PciBdf{pb},
					Message: fmt.Sprintf("behind PCIe switch downstream port %s without ACS: peer-to-peer DMA is not isolated", pb)})
			} else if !p.Caps.ACS.Isolating() {
				ws = append(ws, Warning{Kind: WarnNoACS, Devices: []xl.PciBdf{pb},
					Message: fmt.Sprintf("behind PCIe switch downstream port %s whose ACS controls are not all enabled (ctrl %#04x, need SV RR CR UF): peer-to-peer DMA is not isolated", pb, p.Caps.ACS.Ctrl)})
			}
		case UnknownBridge:
			ws = append(ws, Warning{Kind: WarnUnreadable, Devices: []xl.PciBdf{pb},
				Message: fmt.Sprintf("bridge %s above it could not be read (need root): ACS and bridge type unknown", pb)})
		}
	}
	if d.IsPCIe() && d.Caps.PCIe.Type.IsEndpoint() && !d.HasFLR() {
		var sib []xl.PciBdf
		for _, f := range h.functions(b.Slot()) {
			if f != b {
				sib = append(sib, f)
			}
		}
		if len(sib) > 0 {
			ws = append(ws, Warning{Kind: WarnSharedRst, Devices: sib,
				Message: fmt.Sprintf("multi-function device without FLR: it resets together with %s, so they must go to the same domain", joinBdfs(sib))})
		}
	}
	if !d.IsBridge() && !d.IsHostBridge() && len(d.ResetMethods) == 0 {
		ws = append(ws, Warning{Kind: WarnNoReset, Message: "the kernel offers no reset method (no FLR, PM or bus reset): state may leak between domains"})
	}
	if !d.ConfigComplete() && !d.IsBridge() {
		ws = append(ws, Warning{Kind: WarnUnreadable, Message: "config space only partly readable (need root): PCIe, FLR and ACS checks are incomplete"})
	}
	return ws
}

func joinBdfs(bs []xl.PciBdf) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}
