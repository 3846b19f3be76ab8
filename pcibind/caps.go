package pcibind

import (
	"fmt"

	"github.com/xlpt/xlpt/xl"
)

// PM is the Power Management capability.
type PM struct {
	Offset  int   `json:"offset"`
	Version uint8 `json:"version"`
	D1      bool  `json:"d1"`
	D2      bool  `json:"d2"`
	// NoSoftReset set means the function keeps its state across
	// D3hot->D0, so a PM reset does not reset it.
	NoSoftReset bool  `json:"no_soft_reset"`
	State       uint8 `json:"state"` // current D state, 0..3
}

// PM decodes the Power Management capability.
func (c Config) PM() (PM, bool) {
	off, ok := c.FindCap(CapPM)
	if !ok {
		return PM{}, false
	}
	pmc, ok1 := c.U16(off + PMCap)
	csr, ok2 := c.U16(off + PMCtrl)
	if !ok1 || !ok2 {
		return PM{}, false
	}
	return PM{
		Offset:      off,
		Version:     uint8(pmc & PMCapVerMask),
		D1:          pmc&PMCapD1 != 0,
		D2:          pmc&PMCapD2 != 0,
		NoSoftReset: csr&PMCtrlNoSoftRst != 0,
		State:       uint8(csr & PMCtrlStateMask),
	}, true
}

// PCIeType is the PCIe device/port type from the capability's flags.
type PCIeType uint8

var pcieTypeNames = map[PCIeType]string{
	PCIeEndpoint:       "endpoint",
	PCIeLegacyEndpoint: "legacy-endpoint",
	PCIeRootPort:       "root-port",
	PCIeUpstreamPort:   "upstream-port",
	PCIeDownstreamPort: "downstream-port",
	PCIeToPCIBridge:    "pcie-to-pci-bridge",
	PCIToPCIeBridge:    "pci-to-pcie-bridge",
	PCIeRCEndpoint:     "rc-endpoint",
	PCIeRCEventColl:    "rc-event-collector",
}

func (t PCIeType) String() string {
	if s, ok := pcieTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("pcie-type-%d", uint8(t))
}

// MarshalText gives JSON the name rather than the number.
func (t PCIeType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// IsEndpoint reports the endpoint types (those that are assigned to guests).
func (t PCIeType) IsEndpoint() bool {
	return t == PCIeEndpoint || t == PCIeLegacyEndpoint || t == PCIeRCEndpoint
}

// PCIe is the PCI Express capability.
type PCIe struct {
	Offset  int      `json:"offset"`
	Version uint8    `json:"version"`
	Type    PCIeType `json:"type"`
	Slot    bool     `json:"slot"` // slot implemented (ports)
	// FLR is DevCap's Function Level Reset bit.
	FLR bool `json:"flr"`
	// Phantom is the phantom-functions field: extra requester IDs the
	// function may use, which the IOMMU must map too.
	Phantom uint8 `json:"phantom,omitempty"`
	// ARIForwarding is DevCap2's ARI forwarding support (downstream ports).
	ARIForwarding bool `json:"ari_forwarding,omitempty"`
}

// PCIe decodes the PCI Express capability.
func (c Config) PCIe() (PCIe, bool) {
	off, ok := c.FindCap(CapPCIe)
	if !ok {
		return PCIe{}, false
	}
	flags, ok := c.U16(off + PCIeFlags)
	if !ok {
		return PCIe{}, false
	}
	e := PCIe{
		Offset:  off,
		Version: uint8(flags & PCIeFlagsVers),
		Type:    PCIeType(flags & PCIeFlagsType >> 4),
		Slot:    flags&PCIeFlagsSlot != 0,
	}
	// DevCap may lie past a short buffer; then FLR stays unknown (false).
	if dc, ok := c.U32(off + PCIeDevCap); ok {
		e.FLR = dc&PCIeDevCapFLR != 0
		e.Phantom = uint8(dc & PCIeDevCapPhan >> 3)
	}
	// DevCap2 exists only from capability version 2 on.
	if e.Version >= 2 {
		if dc2, ok := c.U32(off + PCIeDevCap2); ok {
			e.ARIForwarding = dc2&PCIeDevCap2ARI != 0
		}
	}
	return e, true
}

// AF is the conventional-PCI Advanced Features capability.
type AF struct {
	Offset int  `json:"offset"`
	TP     bool `json:"tp"`  // transactions pending
	FLR    bool `json:"flr"` // function level reset
}

// AF decodes the Advanced Features capability.
func (c Config) AF() (AF, bool) {
	off, ok := c.FindCap(CapAF)
	if !ok {
		return AF{}, false
	}
	v, ok := c.U8(off + AFCap)
	if !ok {
		return AF{}, false
	}
	return AF{Offset: off, TP: v&AFCapTP != 0, FLR: v&AFCapFLR != 0}, true
}

// ACS is the Access Control Services extended capability.
type ACS struct {
	Offset int    `json:"offset"`
	Cap    uint16 `json:"cap"`
	Ctrl   uint16 `json:"ctrl"`
}

// Isolating reports whether the controls Linux and libvirt require
// (source validation, request and completion redirect, upstream
// forwarding) are all enabled.
func (a ACS) Isolating() bool { return a.Ctrl&ACSIsolation == ACSIsolation }

// ACS decodes the ACS extended capability.
func (c Config) ACS() (ACS, bool) {
	off, ok := c.FindExtCap(ExtCapACS)
	if !ok {
		return ACS{}, false
	}
	cp, ok1 := c.U16(off + ACSCap)
	ct, ok2 := c.U16(off + ACSCtrl)
	if !ok1 || !ok2 {
		return ACS{}, false
	}
	return ACS{Offset: off, Cap: cp, Ctrl: ct}, true
}

// ARI is the Alternative Routing-ID Interpretation extended capability.
type ARI struct {
	Offset   int   `json:"offset"`
	MFVC     bool  `json:"mfvc"`
	ACS      bool  `json:"acs"`
	NextFunc uint8 `json:"next_function"`
}

// ARI decodes the ARI extended capability.
func (c Config) ARI() (ARI, bool) {
	off, ok := c.FindExtCap(ExtCapARI)
	if !ok {
		return ARI{}, false
	}
	v, ok := c.U16(off + ARICap)
	if !ok {
		return ARI{}, false
	}
	return ARI{Offset: off, MFVC: v&ARICapMFVC != 0, ACS: v&ARICapACS != 0, NextFunc: uint8(v >> 8)}, true
}

// AER reports the Advanced Error Reporting extended capability's offset.
func (c Config) AER() (off int, ok bool) { return c.FindExtCap(ExtCapAER) }

// SRIOV is the Single Root I/O Virtualization extended capability of a PF.
type SRIOV struct {
	Offset     int    `json:"offset"`
	Cap        uint32 `json:"cap"`
	Ctrl       uint16 `json:"ctrl"`
	VFEnable   bool   `json:"vf_enable"`
	InitialVFs uint16 `json:"initial_vfs"`
	TotalVFs   uint16 `json:"total_vfs"`
	NumVFs     uint16 `json:"num_vfs"`
	FuncLink   uint8  `json:"function_link"`
	VFOffset   uint16 `json:"vf_offset"`
	VFStride   uint16 `json:"vf_stride"`
	VFDevice   uint16 `json:"vf_device"`
}

// SRIOV decodes the SR-IOV extended capability.
func (c Config) SRIOV() (SRIOV, bool) {
	off, ok := c.FindExtCap(ExtCapSRIOV)
	if !ok || off+SRIOVVFDevice+2 > len(c) {
		return SRIOV{}, false
	}
	ctrl := c.u16(off + SRIOVCtrl)
	return SRIOV{
		Offset:     off,
		Cap:        c.u32(off + SRIOVCap),
		Ctrl:       ctrl,
		VFEnable:   ctrl&SRIOVCtrlVFE != 0,
		InitialVFs: c.u16(off + SRIOVInitialVFs),
		TotalVFs:   c.u16(off + SRIOVTotalVFs),
		NumVFs:     c.u16(off + SRIOVNumVFs),
		FuncLink:   c.u8(off + SRIOVFuncLink),
		VFOffset:   c.u16(off + SRIOVVFOffset),
		VFStride:   c.u16(off + SRIOVVFStride),
		VFDevice:   c.u16(off + SRIOVVFDevice),
	}, true
}

// VF returns the BDF of the PF's i-th VF (0-based): the routing ID is the
// PF's plus First VF Offset plus i times VF Stride, carrying into the bus
// number as the spec says. ok is false when that leaves the segment's
// 16-bit routing-ID space.
func (s SRIOV) VF(pf xl.PciBdf, i int) (xl.PciBdf, bool) {
	rid := int(pf.Bus)<<8 | int(pf.Dev)<<3 | int(pf.Func)
	rid += int(s.VFOffset) + i*int(s.VFStride)
	if i < 0 || rid > 0xffff {
		return xl.PciBdf{}, false
	}
	return xl.PciBdf{Domain: pf.Domain, Bus: uint8(rid >> 8), Dev: uint8(rid >> 3 & 0x1f), Func: uint8(rid & 7)}, true
}

// BridgeBuses returns a type-1 header's primary, secondary and
// subordinate bus numbers.
func (c Config) BridgeBuses() (pri, sec, sub uint8, ok bool) {
	if c.HeaderType() != HeaderBridge || len(c) <= RegSubordinateBus {
		return 0, 0, 0, false
	}
	return c[RegPrimaryBus], c[RegSecondaryBus], c[RegSubordinateBus], true
}

// Capabilities is everything this package decodes from one config space.
// A nil pointer means absent (or beyond what could be read).
type Capabilities struct {
	PM    *PM    `json:"pm,omitempty"`
	PCIe  *PCIe  `json:"pcie,omitempty"`
	AF    *AF    `json:"af,omitempty"`
	MSI   bool   `json:"msi"`
	MSIX  bool   `json:"msix"`
	AER   bool   `json:"aer"`
	ACS   *ACS   `json:"acs,omitempty"`
	ARI   *ARI   `json:"ari,omitempty"`
	SRIOV *SRIOV `json:"sriov,omitempty"`
}

// Decode decodes every capability this package knows. The ones found
// share one allocation: a full scan decodes thousands of functions.
func (c Config) Decode() Capabilities {
	var d Capabilities
	var ok bool
	all := new(struct {
		pm    PM
		pcie  PCIe
		af    AF
		acs   ACS
		ari   ARI
		sriov SRIOV
	})
	if all.pm, ok = c.PM(); ok {
		d.PM = &all.pm
	}
	if all.pcie, ok = c.PCIe(); ok {
		d.PCIe = &all.pcie
	}
	if all.af, ok = c.AF(); ok {
		d.AF = &all.af
	}
	d.MSI = c.HasCap(CapMSI)
	d.MSIX = c.HasCap(CapMSIX)
	_, d.AER = c.AER()
	if all.acs, ok = c.ACS(); ok {
		d.ACS = &all.acs
	}
	if all.ari, ok = c.ARI(); ok {
		d.ARI = &all.ari
	}
	if all.sriov, ok = c.SRIOV(); ok {
		d.SRIOV = &all.sriov
	}
	return d
}

// FLR reports whether the function can be reset on its own: PCIe DevCap
// FLR or Advanced Features FLR. (A VF's FLR is mandatory; callers that
// know a function is a VF should treat it as true.)
func (d Capabilities) FLR() bool {
	return d.PCIe != nil && d.PCIe.FLR || d.AF != nil && d.AF.FLR
}
