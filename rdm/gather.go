package rdm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/xlpt/xlpt/xl"
)

// XenSource is how Xen's own view of the regions reaches this package:
// libxenctrl's xc_reserved_device_memory_map, for the host and per device.
// *xenlight.Context satisfies it; this package has no cgo.
type XenSource interface {
	ReservedDeviceMemory() ([]xl.RdmRegion, error)
	DeviceReservedMemory(b xl.PciBdf) ([]xl.RdmRegion, error)
}

// Finder gathers the host's regions from every source it is given: Xen,
// the firmware's ACPI DMAR table under SysfsRoot, and Xen's rmrr= option
// (given as values or inside Xen's command line). What cannot be read
// becomes a note, not an error: a host without VT-d, or outside dom0,
// still has the other sources. The DMAR table is read and parsed once per
// Finder, however many devices are asked about.
type Finder struct {
	SysfsRoot  string
	NoDMAR     bool
	Xen        XenSource // nil: Xen is not asked
	RMRR       []string  // values in Xen's rmrr= syntax
	XenCmdline string    // Xen's command line, for the rmrr= options on it
	// SecondaryBus resolves DMAR scope paths through bridges; nil reads
	// the bridges' config space under SysfsRoot.
	SecondaryBus SecondaryBusFunc

	dmarOnce  sync.Once
	dmar      []Region
	dmarNotes []string
}

// ErrMalformedRMRR is matched by the error Regions returns for an rmrr=
// value that does not parse: that is the caller's input, not the host's.
var ErrMalformedRMRR = errors.New("malformed rmrr= value")

// Regions returns the merged regions that concern devices (every PCI
// function of the host when devices is empty; Xen is asked per device),
// with notes on the sources that could not be read.
func (f *Finder) Regions(devices []xl.PciBdf) ([]Region, []string, error) {
	lists, notes, err := f.userRegions()
	if err != nil {
		return nil, nil, err
	}
	if !f.NoDMAR {
		f.dmarOnce.Do(f.readDMAR)
		lists = append(lists, f.dmar)
		notes = append(notes, f.dmarNotes...)
	}
	if f.Xen != nil {
		regs, err := f.xenRegions(devices)
		if err != nil {
			notes = append(notes, fmt.Sprintf("regions from Xen not read: %v", err))
		} else {
			lists = append(lists, regs)
		}
	}
	return Merge(lists...), notes, nil
}

// userRegions parses the rmrr= values and those on Xen's command line.
func (f *Finder) userRegions() ([][]Region, []string, error) {
	var lists [][]Region
	var notes []string
	for _, v := range f.RMRR {
		u, err := ParseXenRMRR(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrMalformedRMRR, err)
		}
		var l []Region
		for _, x := range u {
			if x.Problem != "" {
				return nil, nil, fmt.Errorf("%w: %s: %s", ErrMalformedRMRR, v, x.Problem)
			}
			l = append(l, x.Region())
		}
		lists = append(lists, l)
	}
	if f.XenCmdline != "" {
		cl := RMRRFromCmdline(f.XenCmdline)
		for _, e := range cl.Errors {
			notes = append(notes, "Xen command line: "+e.Error())
		}
		for _, u := range cl.Ranges {
			if u.Problem != "" {
				notes = append(notes, fmt.Sprintf("Xen command line: rmrr range [%x-%x]: %s", u.StartPFN, u.EndPFN, u.Problem))
			}
		}
		lists = append(lists, cl.Regions())
	}
	return lists, notes, nil
}

func (f *Finder) readDMAR() {
	b, name, err := ReadDMAR(f.SysfsRoot)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.dmarNotes = append(f.dmarNotes, "no ACPI DMAR table (not an Intel VT-d host, or VT-d off in the firmware)")
		return
	case err != nil:
		f.dmarNotes = append(f.dmarNotes, "DMAR: "+err.Error())
		return
	}
	tab, err := ParseDMAR(b)
	if err != nil {
		f.dmarNotes = append(f.dmarNotes, fmt.Sprintf("%s table: %v", name, err))
	}
	if tab == nil {
		return
	}
	sec := f.SecondaryBus
	if sec == nil {
		sec = SysfsSecondaryBus(f.SysfsRoot)
	}
	regs, errs := tab.Regions(sec)
	for _, e := range errs {
		f.dmarNotes = append(f.dmarNotes, name+": "+e.Error())
	}
	f.dmar = regs
}

// xenRegions asks Xen for the host's regions and for each device's own.
func (f *Finder) xenRegions(devices []xl.PciBdf) ([]Region, error) {
	all, err := f.Xen.ReservedDeviceMemory()
	if err != nil {
		return nil, err
	}
	if len(devices) == 0 {
		devices = f.hostFunctions()
	}
	per := map[xl.PciBdf][]Extent{}
	for _, b := range devices {
		l, err := f.Xen.DeviceReservedMemory(b)
		if err != nil {
			continue // a device Xen does not know has no regions of its own
		}
		per[b] = extents(l)
	}
	return FromXen(extents(all), per), nil
}

// hostFunctions lists the PCI functions under SysfsRoot: one directory
// read, no device files.
func (f *Finder) hostFunctions() []xl.PciBdf {
	ents, err := os.ReadDir(filepath.Join(f.SysfsRoot, "bus", "pci", "devices"))
	if err != nil {
		return nil
	}
	out := make([]xl.PciBdf, 0, len(ents))
	for _, e := range ents {
		if b, all, err := xl.ParseBdf(e.Name()); err == nil && !all {
			out = append(out, b)
		}
	}
	return out
}

func extents(l []xl.RdmRegion) []Extent {
	out := make([]Extent, len(l))
	for i, r := range l {
		out[i] = Extent{StartPFN: r.StartPFN, NrPages: r.NrPages}
	}
	return out
}
