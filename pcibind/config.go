package pcibind

import "encoding/binary"

// Config is a function's configuration space as read from its sysfs
// `config` file: 64 bytes for an unprivileged reader, 256 for conventional
// PCI, 4096 for PCIe. Every reader is bounded: a short or hostile buffer
// yields ok=false, never a panic.
type Config []byte

// U8 reads one byte at off.
func (c Config) U8(off int) (uint8, bool) {
	if off < 0 || off >= len(c) {
		return 0, false
	}
	return c[off], true
}

// U16 reads a little-endian 16-bit register at off.
func (c Config) U16(off int) (uint16, bool) {
	if off < 0 || off > len(c)-2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(c[off:]), true
}

// U32 reads a little-endian 32-bit register at off.
func (c Config) U32(off int) (uint32, bool) {
	if off < 0 || off > len(c)-4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(c[off:]), true
}

// u8, u16 and u32 are the zero-on-short forms for decoders that have
// already checked presence.
func (c Config) u8(off int) uint8   { v, _ := c.U8(off); return v }
func (c Config) u16(off int) uint16 { v, _ := c.U16(off); return v }
func (c Config) u32(off int) uint32 { v, _ := c.U32(off); return v }

// VendorID is the vendor register (0xffff when absent or unreadable).
func (c Config) VendorID() uint16 {
	if v, ok := c.U16(RegVendorID); ok {
		return v
	}
	return 0xffff
}

// DeviceID is the device register.
func (c Config) DeviceID() uint16 { return c.u16(RegDeviceID) }

// Class is the 24-bit class code: base class, subclass, programming interface.
func (c Config) Class() uint32 {
	return uint32(c.u8(RegBaseClass))<<16 | uint32(c.u8(RegSubClass))<<8 | uint32(c.u8(RegProgIf))
}

// HeaderType is the header layout (0 normal, 1 bridge, 2 CardBus) without
// the multi-function bit.
func (c Config) HeaderType() uint8 { return c.u8(RegHeaderType) & HeaderTypeMask }

// MultiFunction reports the header's multi-function bit.
func (c Config) MultiFunction() bool { return c.u8(RegHeaderType)&HeaderMultiFunc != 0 }

// Extended reports whether the buffer holds the PCIe extended space.
func (c Config) Extended() bool { return len(c) > ConfigSizeLegacy }

// Cap is one capability found in config space. For a standard capability
// ID holds the 8-bit ID; Offset is where its header starts.
type Cap struct {
	ID       uint16
	Offset   int
	Extended bool
}

// Caps lists the standard capabilities then the extended ones, in list
// order. A loop, a pointer into the header or past the buffer, or a list
// longer than the space allows ends the walk; what was found so far is
// kept.
func (c Config) Caps() []Cap {
	var caps []Cap
	c.walkCaps(func(id uint8, off int) bool {
		caps = append(caps, Cap{ID: uint16(id), Offset: off})
		return true
	})
	c.walkExtCaps(func(id uint16, off int) bool {
		caps = append(caps, Cap{ID: id, Offset: off, Extended: true})
		return true
	})
	return caps
}

// FindCap returns the offset of the first standard capability with id.
func (c Config) FindCap(id uint8) (off int, ok bool) {
	c.walkCaps(func(cid uint8, o int) bool {
		if cid == id {
			off, ok = o, true
			return false
		}
		return true
	})
	return off, ok
}

// FindExtCap returns the offset of the first extended capability with id.
func (c Config) FindExtCap(id uint16) (off int, ok bool) {
	c.walkExtCaps(func(cid uint16, o int) bool {
		if cid == id {
			off, ok = o, true
			return false
		}
		return true
	})
	return off, ok
}

// HasCap reports whether a standard capability with id is present.
func (c Config) HasCap(id uint8) bool { _, ok := c.FindCap(id); return ok }

// HasExtCap reports whether an extended capability with id is present.
func (c Config) HasExtCap(id uint16) bool { _, ok := c.FindExtCap(id); return ok }

// walkCaps calls fn for each standard capability until fn returns false.
func (c Config) walkCaps(fn func(id uint8, off int) bool) {
	st, ok := c.U16(RegStatus)
	if !ok || st == 0xffff || st&StatusCapList == 0 {
		return
	}
	ptrReg := RegCapPtr
	if c.HeaderType() == HeaderCardbus {
		ptrReg = RegCardbusCapPtr
	}
	p, ok := c.U8(ptrReg)
	if !ok {
		return
	}
	var seen [ConfigSizeLegacy / 4]bool
	off := int(p & CapPtrMask)
	limit := len(c)
	if limit > ConfigSizeLegacy {
		limit = ConfigSizeLegacy // standard capabilities live in the first 256 bytes
	}
	for hops := 0; hops < capHopLimit; hops++ {
		// Pointers into the header (< 0x40) end the list, as in Linux.
		if off < ConfigSizeUser || off+2 > limit {
			return
		}
		if seen[off/4] {
			return
		}
		seen[off/4] = true
		id := c[off]
		if id == 0xff {
			return // all-ones: the device went away mid-read
		}
		if !fn(id, off) {
			return
		}
		off = int(c[off+1] & CapPtrMask)
	}
}

// walkExtCaps calls fn for each extended capability until fn returns false.
func (c Config) walkExtCaps(fn func(id uint16, off int) bool) {
	if !c.Extended() {
		return
	}
	var seen [(ConfigSizeExt - ConfigSizeLegacy) / 4]bool
	off := ExtCapStart
	for hops := 0; hops < extCapHopLimit; hops++ {
		if off < ExtCapStart || off+4 > len(c) || off+4 > ConfigSizeExt {
			return
		}
		i := (off - ExtCapStart) / 4
		if seen[i] {
			return
		}
		seen[i] = true
		h := c.u32(off)
		// An empty or all-ones header at 0x100 means no extended list.
		if h == 0 || h == 0xffffffff {
			return
		}
		id := uint16(h & ExtCapIDMask)
		// ID 0 with a next pointer is a placeholder some devices use to
		// start the list; skip it but follow the pointer.
		if id != 0 && !fn(id, off) {
			return
		}
		off = int(h >> ExtCapNextShift & ExtCapNextMask)
		if off == 0 {
			return
		}
	}
}
