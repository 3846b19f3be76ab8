package hotplug

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// SlotRange is the range of guest slots used for hot-plug, inclusive.
type SlotRange struct{ Lo, Hi uint8 }

// DefaultSlots are the slots the VT-d howto reserves for hot-plug.
var DefaultSlots = SlotRange{6, 7}

func (r SlotRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprintf("%x", r.Lo)
	}
	return fmt.Sprintf("%x-%x", r.Lo, r.Hi)
}

func (r SlotRange) Contains(s uint8) bool { return s >= r.Lo && s <= r.Hi }

// ParseSlotRange reads "6-7" or "6" (hex, as xl's slots).
func ParseSlotRange(s string) (SlotRange, error) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 16, 8)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 16, 8)
	if err1 != nil || err2 != nil || l < 1 || h > 0x1f || l > h {
		return SlotRange{}, fmt.Errorf("slot range %q: want LO-HI in hex within 1-1f, e.g. 6-7", s)
	}
	return SlotRange{uint8(l), uint8(h)}, nil
}

// SlotError is a refused slot request. Callers branch on Kind.
type SlotError struct {
	Kind      SlotErrorKind
	Slot      uint8
	Range     SlotRange
	Device    xl.PciBdf
	Occupants map[uint8]xl.PciBdf
}

type SlotErrorKind int

const (
	SlotOccupied SlotErrorKind = iota
	SlotOutOfRange
	SlotNoneFree
)

func (e *SlotError) Error() string {
	switch e.Kind {
	case SlotOccupied:
		return fmt.Sprintf("guest slot %x is occupied by %s: pick a free slot, or detach %s first",
			e.Slot, e.Occupants[e.Slot], e.Occupants[e.Slot])
	case SlotOutOfRange:
		return fmt.Sprintf("guest slot %x is outside the hot-plug slots %s: use a slot in %s, or --any-slot to place %s there anyway",
			e.Slot, e.Range, e.Range, e.Device)
	default:
		var held []string
		for s := e.Range.Lo; s <= e.Range.Hi; s++ {
			if b, ok := e.Occupants[s]; ok {
				held = append(held, fmt.Sprintf("%x holds %s", s, b))
			}
		}
		return fmt.Sprintf("no free hot-plug slot in %s: %s (detach one, or give a slot with --any-slot)",
			e.Range, strings.Join(held, ", "))
	}
}

// occupants maps guest slot -> the host function in it, from the domain's
// PCI list (function 0 of a slot names it).
func occupants(devs []xl.DevicePci) map[uint8]xl.PciBdf {
	occ := map[uint8]xl.PciBdf{}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Vdevfn < devs[j].Vdevfn })
	for _, d := range devs {
		if d.VSlot() == 0 {
			continue // not placed (PV, or an unknown slot)
		}
		if _, ok := occ[d.VSlot()]; !ok {
			occ[d.VSlot()] = d.PciBdf
		}
	}
	return occ
}

// chooseSlot applies the slot policy for one HVM device: a requested
// slot must be free and, unless anySlot, in the range; no request takes
// the lowest free slot of the range.
func chooseSlot(dev xl.PciBdf, requested uint8, r SlotRange, anySlot bool, occ map[uint8]xl.PciBdf) (uint8, error) {
	if requested != 0 {
		if _, busy := occ[requested]; busy {
			return 0, &SlotError{Kind: SlotOccupied, Slot: requested, Range: r, Device: dev, Occupants: occ}
		}
		if !anySlot && !r.Contains(requested) {
			return 0, &SlotError{Kind: SlotOutOfRange, Slot: requested, Range: r, Device: dev, Occupants: occ}
		}
		return requested, nil
	}
	for s := r.Lo; s <= r.Hi; s++ {
		if _, busy := occ[s]; !busy {
			return s, nil
		}
	}
	return 0, &SlotError{Kind: SlotNoneFree, Range: r, Device: dev, Occupants: occ}
}
