package rdm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// PageShift is the x86 page size Xen counts RDM in (XC_PAGE_SHIFT).
const PageShift = 12

// Source says where a region was learned from.
type Source string

const (
	// SourceXen: xc_reserved_device_memory_map (what libxl itself uses).
	SourceXen Source = "xen"
	// SourceDMAR: an RMRR structure of the ACPI DMAR table.
	SourceDMAR Source = "dmar"
	// SourceCmdline: Xen's rmrr= boot option.
	SourceCmdline Source = "rmrr="
)

// Extent is one answer of xc_reserved_device_memory_map: a run of pages.
// It has the shape of xl.RdmRegion, so the caller converts field by
// field.
type Extent struct {
	StartPFN uint64
	NrPages  uint64
}

// Region is one reserved range and the devices whose DMA needs it
// identity-mapped.
type Region struct {
	StartPFN uint64
	NrPages  uint64
	// Devices in the region's scope. More than one makes the region
	// shared, which VT-d refuses to assign under a strict policy.
	Devices []xl.PciBdf
	Sources []Source
}

// Start is the first byte of the region.
func (r Region) Start() uint64 { return r.StartPFN << PageShift }

// Size is the region's length in bytes.
func (r Region) Size() uint64 { return r.NrPages << PageShift }

// End is the first byte after the region.
func (r Region) End() uint64 { return r.Start() + r.Size() }

// Shared reports whether more than one device uses the region.
func (r Region) Shared() bool { return len(r.Devices) > 1 }

// Has reports whether bdf is in the region's scope.
func (r Region) Has(bdf xl.PciBdf) bool {
	for _, d := range r.Devices {
		if d == bdf {
			return true
		}
	}
	return false
}

// String gives the region as an inclusive byte range, as Xen prints RMRRs.
func (r Region) String() string {
	if r.NrPages == 0 {
		return fmt.Sprintf("[%#x, empty]", r.Start())
	}
	return fmt.Sprintf("[%#x-%#x]", r.Start(), r.End()-1)
}

// DeviceList is the devices as "0000:00:03.0,0000:00:04.0".
func (r Region) DeviceList() string {
	s := make([]string, len(r.Devices))
	for i, d := range r.Devices {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

// overlaps is libxl's overlaps_rdm: does [start, start+size) meet the
// region? Sizes are in bytes.
func overlaps(start, size, rdmStart, rdmSize uint64) bool {
	return start+size > rdmStart && start < rdmStart+rdmSize
}

// Merge combines regions from several sources. Regions are the same when
// they start at the same page, which is how libxl matches them
// (libxl__domain_device_construct_rdm compares start addresses only); the
// first size seen is kept, devices and sources are unioned. The result is
// sorted by start.
func Merge(lists ...[]Region) []Region {
	var out []Region
	idx := map[uint64]int{}
	for _, l := range lists {
		for _, r := range l {
			i, ok := idx[r.StartPFN]
			if !ok {
				idx[r.StartPFN] = len(out)
				out = append(out, Region{StartPFN: r.StartPFN, NrPages: r.NrPages})
				i = len(out) - 1
			}
			for _, d := range r.Devices {
				if !out[i].Has(d) {
					out[i].Devices = append(out[i].Devices, d)
				}
			}
			for _, s := range r.Sources {
				if !hasSource(out[i].Sources, s) {
					out[i].Sources = append(out[i].Sources, s)
				}
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartPFN < out[b].StartPFN })
	for i := range out {
		sort.Slice(out[i].Devices, func(a, b int) bool { return out[i].Devices[a].Less(out[i].Devices[b]) })
	}
	return out
}

func hasSource(l []Source, s Source) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// FromXen builds regions from Xen's answers: all is the XENMEM_RDM_ALL
// query (no device information), perDevice the answer for each device
// asked about. A region is known by its start page.
func FromXen(all []Extent, perDevice map[xl.PciBdf][]Extent) []Region {
	var l []Region
	for _, e := range all {
		l = append(l, Region{StartPFN: e.StartPFN, NrPages: e.NrPages, Sources: []Source{SourceXen}})
	}
	bdfs := make([]xl.PciBdf, 0, len(perDevice))
	for b := range perDevice {
		bdfs = append(bdfs, b)
	}
	sort.Slice(bdfs, func(i, j int) bool { return bdfs[i].Less(bdfs[j]) })
	for _, b := range bdfs {
		for _, e := range perDevice[b] {
			l = append(l, Region{StartPFN: e.StartPFN, NrPages: e.NrPages,
				Devices: []xl.PciBdf{b}, Sources: []Source{SourceXen}})
		}
	}
	return Merge(l)
}

// ForDevice lists the regions whose scope has bdf, in order.
func ForDevice(regions []Region, bdf xl.PciBdf) []Region {
	var out []Region
	for _, r := range regions {
		if r.Has(bdf) {
			out = append(out, r)
		}
	}
	return out
}
