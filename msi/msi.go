// Package msi decodes the MSI and MSI-X capabilities of a PCI function's
// config space and decides what xl's msitranslate setting does for a
// passed-through device.
//
// It is pure Go over pcibind.Config: the capability list is walked by
// pcibind.Config.FindCap, and every register read is bounds-checked, so a
// short (64-byte unprivileged) or hostile config buffer yields "absent" or
// "truncated", never a panic.
package msi

import (
	"fmt"

	"github.com/xlpt/xlpt/pcibind"
)

// MSI capability registers (PCI Local Bus 3.0, 6.8.1), relative to the
// capability.
const (
	regMSIControl = 0x02
	regMSIAddrLo  = 0x04
	regMSIAddrHi  = 0x08 // 64-bit only
	regMSIData32  = 0x08
	regMSIData64  = 0x0c
	regMSIMask32  = 0x0c
	regMSIMask64  = 0x10

	msiEnable     = 0x0001
	msiMMCShift   = 1
	msiMMEShift   = 4
	msiLog2Mask   = 0x7
	msi64Bit      = 0x0080
	msiPerVector  = 0x0100
	msiExtData    = 0x0200 // extended message data capable
	msiExtDataEna = 0x0400
)

// MSI-X capability registers (PCI Local Bus 3.0, 6.8.2).
const (
	regMSIXControl = 0x02
	regMSIXTable   = 0x04
	regMSIXPBA     = 0x08
	msixSizeLen    = 0x0c

	msixTableSizeMask = 0x07ff
	msixFunctionMask  = 0x4000
	msixEnable        = 0x8000
	msixBIRMask       = 0x7
)

// MSI is a decoded MSI capability.
type MSI struct {
	Offset  int    `json:"offset"`
	Control uint16 `json:"control"`
	Enabled bool   `json:"enabled"`
	Is64Bit bool   `json:"addr_64bit"`
	// PerVectorMask: the function has Mask and Pending registers.
	PerVectorMask bool `json:"per_vector_mask"`
	// Capable and Allocated are the Multiple Message Capable and Enable
	// fields as vector counts (1, 2, 4, ... 32). CapableReserved and
	// AllocatedReserved flag the reserved encodings 6 and 7, which are
	// then reported as 2^n anyway. Both are 0 when the control register
	// itself could not be read (Truncated).
	Capable           int  `json:"vectors_capable"`
	Allocated         int  `json:"vectors_enabled"`
	CapableReserved   bool `json:"vectors_capable_reserved,omitempty"`
	AllocatedReserved bool `json:"vectors_enabled_reserved,omitempty"`
	ExtendedData      bool `json:"extended_data,omitempty"`
	// Address and Data are the programmed message.
	Address uint64 `json:"address"`
	Data    uint16 `json:"data"`
	// Mask and Pending are valid when PerVectorMask.
	Mask    uint32 `json:"mask,omitempty"`
	Pending uint32 `json:"pending,omitempty"`
	// Truncated: the capability runs past the config bytes read (a
	// non-root reader sees 64 bytes); the fields past the end are zero.
	Truncated bool `json:"truncated,omitempty"`
}

// Size is the capability's length in config space.
func (m MSI) Size() int {
	n := 0x0a
	if m.Is64Bit {
		n = 0x0e
	}
	if m.PerVectorMask {
		n += 0x0a // padding to the mask dword, mask and pending
	}
	return n
}

// MSIX is a decoded MSI-X capability.
type MSIX struct {
	Offset       int    `json:"offset"`
	Control      uint16 `json:"control"`
	Enabled      bool   `json:"enabled"`
	FunctionMask bool   `json:"function_mask"`
	// TableSize is the number of vectors (the field plus one).
	TableSize int `json:"table_size"`
	// TableBIR/PBABIR name the BAR (0-5) holding the table and the pending
	// bit array, at TableOffset/PBAOffset (8-byte aligned) within it.
	TableBIR    uint8  `json:"table_bar"`
	TableOffset uint32 `json:"table_offset"`
	PBABIR      uint8  `json:"pba_bar"`
	PBAOffset   uint32 `json:"pba_offset"`
	Truncated   bool   `json:"truncated,omitempty"`
}

// Problems lists what is wrong with the capability as the spec reads: a
// reserved BIR (6 or 7), or a table and PBA that overlap in one BAR.
func (x MSIX) Problems() []string {
	var p []string
	if x.TableBIR > 5 {
		p = append(p, fmt.Sprintf("table BIR %d is reserved", x.TableBIR))
	}
	if x.PBABIR > 5 {
		p = append(p, fmt.Sprintf("PBA BIR %d is reserved", x.PBABIR))
	}
	if x.TableBIR == x.PBABIR && !x.Truncated {
		tEnd := uint64(x.TableOffset) + uint64(x.TableSize)*16
		pEnd := uint64(x.PBAOffset) + uint64((x.TableSize+63)/64)*8
		if uint64(x.TableOffset) < pEnd && uint64(x.PBAOffset) < tEnd {
			p = append(p, fmt.Sprintf("table [%#x,%#x) and PBA [%#x,%#x) overlap in BAR %d", x.TableOffset, tEnd, x.PBAOffset, pEnd, x.TableBIR))
		}
	}
	return p
}

// Caps is what a function offers: either pointer is nil when the
// capability is absent.
type Caps struct {
	MSI  *MSI  `json:"msi,omitempty"`
	MSIX *MSIX `json:"msix,omitempty"`
}

// Any reports whether the function can signal message interrupts at all.
func (c Caps) Any() bool { return c.MSI != nil || c.MSIX != nil }

// Decode reads both capabilities from config space.
func Decode(c pcibind.Config) Caps {
	var out Caps
	if m, ok := DecodeMSI(c); ok {
		out.MSI = &m
	}
	if x, ok := DecodeMSIX(c); ok {
		out.MSIX = &x
	}
	return out
}

// DecodeMSI decodes the MSI capability; ok is false when there is none.
func DecodeMSI(c pcibind.Config) (MSI, bool) {
	off, ok := c.FindCap(pcibind.CapMSI)
	if !ok {
		return MSI{}, false
	}
	m := MSI{Offset: off}
	ctl, ok := c.U16(off + regMSIControl)
	if !ok {
		m.Truncated = true
		return m, true
	}
	m.Control = ctl
	m.Enabled = ctl&msiEnable != 0
	m.Is64Bit = ctl&msi64Bit != 0
	m.PerVectorMask = ctl&msiPerVector != 0
	m.ExtendedData = ctl&msiExtData != 0
	mmc := ctl >> msiMMCShift & msiLog2Mask
	mme := ctl >> msiMMEShift & msiLog2Mask
	m.Capable, m.CapableReserved = 1<<mmc, mmc > 5
	m.Allocated, m.AllocatedReserved = 1<<mme, mme > 5

	rd32 := func(r int) uint32 {
		v, ok := c.U32(off + r)
		if !ok {
			m.Truncated = true
		}
		return v
	}
	rd16 := func(r int) uint16 {
		v, ok := c.U16(off + r)
		if !ok {
			m.Truncated = true
		}
		return v
	}
	m.Address = uint64(rd32(regMSIAddrLo))
	if m.Is64Bit {
		m.Address |= uint64(rd32(regMSIAddrHi)) << 32
		m.Data = rd16(regMSIData64)
	} else {
		m.Data = rd16(regMSIData32)
	}
	if m.PerVectorMask {
		r := regMSIMask32
		if m.Is64Bit {
			r = regMSIMask64
		}
		m.Mask = rd32(r)
		m.Pending = rd32(r + 4)
	}
	return m, true
}

// DecodeMSIX decodes the MSI-X capability; ok is false when there is none.
func DecodeMSIX(c pcibind.Config) (MSIX, bool) {
	off, ok := c.FindCap(pcibind.CapMSIX)
	if !ok {
		return MSIX{}, false
	}
	x := MSIX{Offset: off}
	if off+msixSizeLen > len(c) {
		x.Truncated = true
	}
	ctl, ok := c.U16(off + regMSIXControl)
	if !ok {
		return x, true
	}
	x.Control = ctl
	x.Enabled = ctl&msixEnable != 0
	x.FunctionMask = ctl&msixFunctionMask != 0
	x.TableSize = int(ctl&msixTableSizeMask) + 1
	if v, ok := c.U32(off + regMSIXTable); ok {
		x.TableBIR, x.TableOffset = uint8(v&msixBIRMask), v&^msixBIRMask
	}
	if v, ok := c.U32(off + regMSIXPBA); ok {
		x.PBABIR, x.PBAOffset = uint8(v&msixBIRMask), v&^msixBIRMask
	}
	return x, true
}
