package pcitest

import (
	"encoding/binary"

	"github.com/xlpt/xlpt/pcibind"
)

// ConfigBuilder assembles a 4096-byte config space with real capability
// chains, laid out the way devices do: standard capabilities from 0x40,
// extended ones from 0x100.
type ConfigBuilder struct {
	b       []byte
	nextStd int
	lastStd int // offset of the last standard cap, 0 if none
	nextExt int
	lastExt int // offset of the last extended cap, 0 if none
}

// NewConfig starts a config space with the given IDs, 24-bit class and
// header type (pcibind.HeaderNormal or HeaderBridge).
func NewConfig(vendor, device uint16, class uint32, rev uint8, header uint8) *ConfigBuilder {
	b := make([]byte, pcibind.ConfigSizeExt)
	binary.LittleEndian.PutUint16(b[pcibind.RegVendorID:], vendor)
	binary.LittleEndian.PutUint16(b[pcibind.RegDeviceID:], device)
	b[pcibind.RegRevision] = rev
	b[pcibind.RegProgIf] = byte(class)
	b[pcibind.RegSubClass] = byte(class >> 8)
	b[pcibind.RegBaseClass] = byte(class >> 16)
	b[pcibind.RegHeaderType] = header
	// Memory space and bus master on, as an enabled device has them.
	binary.LittleEndian.PutUint16(b[pcibind.RegCommand:], 0x0006)
	return &ConfigBuilder{b: b, nextStd: 0x40, nextExt: pcibind.ExtCapStart}
}

// Set16 and Set32 poke registers the helpers do not cover.
func (c *ConfigBuilder) Set8(off int, v uint8)   { c.b[off] = v }
func (c *ConfigBuilder) Set16(off int, v uint16) { binary.LittleEndian.PutUint16(c.b[off:], v) }
func (c *ConfigBuilder) Set32(off int, v uint32) { binary.LittleEndian.PutUint32(c.b[off:], v) }

// Subsystem sets the type-0 subsystem IDs.
func (c *ConfigBuilder) Subsystem(vendor, device uint16) *ConfigBuilder {
	c.Set16(pcibind.RegSubsysVendor, vendor)
	c.Set16(pcibind.RegSubsysID, device)
	return c
}

// MultiFunction sets the header's multi-function bit.
func (c *ConfigBuilder) MultiFunction() *ConfigBuilder {
	c.b[pcibind.RegHeaderType] |= pcibind.HeaderMultiFunc
	return c
}

// Buses sets a bridge's primary, secondary and subordinate bus numbers.
func (c *ConfigBuilder) Buses(pri, sec, sub uint8) *ConfigBuilder {
	c.b[pcibind.RegPrimaryBus], c.b[pcibind.RegSecondaryBus], c.b[pcibind.RegSubordinateBus] = pri, sec, sub
	return c
}

// Interrupt sets the interrupt line and pin.
func (c *ConfigBuilder) Interrupt(line, pin uint8) *ConfigBuilder {
	c.b[pcibind.RegIntLine], c.b[pcibind.RegIntPin] = line, pin
	return c
}

// Cap appends a standard capability whose body (after the ID and next
// bytes) is given, and returns its offset.
func (c *ConfigBuilder) Cap(id uint8, body []byte) int {
	off := c.nextStd
	if off+2+len(body) > pcibind.ConfigSizeLegacy {
		panic("pcitest: standard capabilities overflow 256 bytes")
	}
	c.b[off] = id
	c.b[off+1] = 0
	copy(c.b[off+2:], body)
	if c.lastStd == 0 {
		c.b[pcibind.RegCapPtr] = byte(off)
		st := binary.LittleEndian.Uint16(c.b[pcibind.RegStatus:])
		binary.LittleEndian.PutUint16(c.b[pcibind.RegStatus:], st|pcibind.StatusCapList)
	} else {
		c.b[c.lastStd+1] = byte(off)
	}
	c.lastStd = off
	c.nextStd = (off + 2 + len(body) + 3) &^ 3
	return off
}

// ExtCap appends an extended capability (version 1) with the given body
// after its 4-byte header and returns its offset.
func (c *ConfigBuilder) ExtCap(id uint16, body []byte) int {
	off := c.nextExt
	if off+4+len(body) > pcibind.ConfigSizeExt {
		panic("pcitest: extended capabilities overflow 4096 bytes")
	}
	binary.LittleEndian.PutUint32(c.b[off:], uint32(id)|1<<16)
	copy(c.b[off+4:], body)
	if c.lastExt != 0 {
		h := binary.LittleEndian.Uint32(c.b[c.lastExt:])
		binary.LittleEndian.PutUint32(c.b[c.lastExt:], h&0x000fffff|uint32(off)<<20)
	}
	c.lastExt = off
	c.nextExt = (off + 4 + len(body) + 7) &^ 7
	return off
}

func le16(v uint16) []byte      { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte      { return binary.LittleEndian.AppendUint32(nil, v) }
func le32x2(a, b uint32) []byte { return append(le32(a), le32(b)...) }

// PM adds a version-3 Power Management capability in D0.
func (c *ConfigBuilder) PM(noSoftReset bool) int {
	var csr uint16
	if noSoftReset {
		csr |= pcibind.PMCtrlNoSoftRst
	}
	// PMC: version 3, PME from D0, D3hot and D3cold.
	return c.Cap(pcibind.CapPM, append(append(le16(0xc803), le16(csr)...), 0, 0))
}

// PCIe adds a version-2 PCI Express capability of the given type.
func (c *ConfigBuilder) PCIe(typ uint8, flr bool) int {
	flags := uint16(2) | uint16(typ&0xf)<<4
	if typ == pcibind.PCIeRootPort || typ == pcibind.PCIeDownstreamPort {
		flags |= pcibind.PCIeFlagsSlot
	}
	devcap := uint32(0x8000) | 2 // role-based error reporting, MPS 512
	if flr {
		devcap |= pcibind.PCIeDevCapFLR
	}
	body := make([]byte, 0x3a)
	binary.LittleEndian.PutUint16(body[0:], flags)
	binary.LittleEndian.PutUint32(body[2:], devcap)
	// LinkCap: 8GT/s x4; LinkSta: 8GT/s x4, so lspci prints a sane link.
	binary.LittleEndian.PutUint32(body[0x0a:], 0x00000043|0x4<<4)
	binary.LittleEndian.PutUint16(body[0x10:], 0x0043)
	return c.Cap(pcibind.CapPCIe, body)
}

// MSI adds a 64-bit MSI capability with 2^log2 vectors.
func (c *ConfigBuilder) MSI(log2 uint8) int {
	ctl := uint16(log2&7)<<1 | 0x0080 // multiple message capable, 64-bit
	return c.Cap(pcibind.CapMSI, append(le16(ctl), make([]byte, 10)...))
}

// MSIX adds an MSI-X capability with n vectors, table and PBA in BAR bir.
func (c *ConfigBuilder) MSIX(n int, bir uint8) int {
	body := le16(uint16(n-1) & 0x7ff)
	body = append(body, le32(uint32(bir&7))...)
	body = append(body, le32(uint32(bir&7)|0x2000)...)
	return c.Cap(pcibind.CapMSIX, body)
}

// AF adds an Advanced Features capability.
func (c *ConfigBuilder) AF(flr bool) int {
	v := uint8(pcibind.AFCapTP)
	if flr {
		v |= pcibind.AFCapFLR
	}
	return c.Cap(pcibind.CapAF, []byte{6, v, 0, 0})
}

// AER adds an Advanced Error Reporting extended capability.
func (c *ConfigBuilder) AER() int { return c.ExtCap(pcibind.ExtCapAER, make([]byte, 0x44)) }

// ACS adds an ACS extended capability with the given capability and
// control bits.
func (c *ConfigBuilder) ACS(cp, ctl uint16) int {
	return c.ExtCap(pcibind.ExtCapACS, append(le16(cp), le16(ctl)...))
}

// ARI adds an ARI extended capability pointing at the next function.
func (c *ConfigBuilder) ARI(next uint8) int {
	return c.ExtCap(pcibind.ExtCapARI, append(le16(uint16(next)<<8), 0, 0))
}

// SRIOV adds an SR-IOV extended capability.
func (c *ConfigBuilder) SRIOV(total, num, offset, stride, vfDevice uint16) int {
	body := make([]byte, 0x3c)
	ctl := uint16(0)
	if num > 0 {
		ctl |= pcibind.SRIOVCtrlVFE | pcibind.SRIOVCtrlMSE
	}
	put16 := func(o int, v uint16) { binary.LittleEndian.PutUint16(body[o-4:], v) }
	put16(pcibind.SRIOVCtrl, ctl)
	put16(pcibind.SRIOVInitialVFs, total)
	put16(pcibind.SRIOVTotalVFs, total)
	put16(pcibind.SRIOVNumVFs, num)
	put16(pcibind.SRIOVVFOffset, offset)
	put16(pcibind.SRIOVVFStride, stride)
	put16(pcibind.SRIOVVFDevice, vfDevice)
	binary.LittleEndian.PutUint32(body[pcibind.SRIOVSupPgSize-4:], 0x553)
	binary.LittleEndian.PutUint32(body[pcibind.SRIOVSysPgSize-4:], 1)
	return c.ExtCap(pcibind.ExtCapSRIOV, body)
}

// Bytes returns the 4096-byte config space.
func (c *ConfigBuilder) Bytes() []byte { return c.b }
