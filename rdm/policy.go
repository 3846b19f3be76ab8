package rdm

import (
	"fmt"

	"github.com/xlpt/xlpt/xl"
)

// Constants of libxl__build_hvm (tools/libs/light/libxl_dom.c) and Xen's
// public hvm headers.
const (
	MiB = 1 << 20
	GiB = 1 << 30
	// fourGiB is where high memory starts.
	fourGiB = 1 << 32
	// HVM_BELOW_4G_MMIO_START and HVM_BELOW_4G_MMIO_LENGTH: the default
	// MMIO hole is the 256 MiB below 4 GiB.
	hvmBelow4GMMIOStart  = 0xf0000000
	hvmBelow4GMMIOLength = 0x10000000
	// MiB(2): HAP guests round a relocated low-memory end down to it.
	hapAlign = 2 * MiB
)

// Guest is an HVM guest's configuration as far as RDM is concerned: the
// xl.cfg keys memory, maxmem, videoram (or the vga default), mmio_hole,
// hap, rdm, rdm_mem_boundary and pci.
type Guest struct {
	MemoryMiB uint64
	// MaxMemMiB is maxmem; 0 means equal to MemoryMiB (xl's default).
	MaxMemMiB uint64
	// VideoMiB is the video RAM libxl takes out of maxmem
	// (b_info->video_memkb); see DefaultVideoMiB. 0 is vga="none".
	VideoMiB uint64
	// MMIOHoleMiB is mmio_hole; 0 is libxl's default. libxl only honours
	// a hole larger than the default 256 MiB.
	MMIOHoleMiB uint64
	// HAP is hap= (default true on hardware with HAP): libxl then rounds a
	// moved low-memory end down to 2 MiB.
	HAP bool
	// Rdm is the global rdm= setting; a Policy of Invalid is libxl's
	// default, relaxed.
	Rdm xl.RdmReserve
	// MemBoundaryMiB is rdm_mem_boundary; 0 is the default 2048.
	MemBoundaryMiB uint64
	// Devices are the pci= entries in order. RdmPolicy Invalid means the
	// entry has no rdm_policy and xl copied no global policy; libxl then
	// makes it strict. XlDevice builds entries the way xl does.
	Devices []xl.DevicePci
}

// DefaultVideoMiB is libxl's video_memkb default
// (libxl__domain_build_info_setdefault): vga is "cirrus" (xl's default),
// "stdvga", "qxl" or "none"; traditional selects qemu-xen-traditional.
func DefaultVideoMiB(vga string, traditional bool) (uint64, error) {
	switch vga {
	case "none":
		return 0, nil
	case "", "cirrus":
		if traditional {
			return 4, nil
		}
		return 8, nil
	case "stdvga", "std":
		if traditional {
			return 8, nil
		}
		return 16, nil
	case "qxl":
		if traditional {
			return 0, fmt.Errorf("qxl needs qemu-xen")
		}
		return 128, nil
	}
	return 0, fmt.Errorf("unknown vga %q (cirrus, stdvga, qxl or none)", vga)
}

// XlDevice is the pci= entry xl 4.17 starts from before parsing a spec
// string: libxl_device_pci_init, then the global policy copied in
// (xl_parse.c: "the per-device policy always follows the global policy by
// default"). With rdm= unset, or dropped by xl's parser bug, that copy is
// Invalid and the device ends up strict.
func XlDevice(global xl.RdmReserve) xl.DevicePci {
	d := xl.NewDevicePci()
	d.RdmPolicy = global.Policy
	return d
}

// Layout is an HVM guest's RAM: [0, LowMemEnd) and, when HighMemEnd is not
// 0, [4 GiB, HighMemEnd). Between LowMemEnd and 4 GiB lies the MMIO hole
// (from MMIOStart up) and whatever libxl moved out of low memory.
type Layout struct {
	MemSize    uint64
	MMIOStart  uint64
	LowMemEnd  uint64
	HighMemEnd uint64
}

// InRAM reports whether r overlaps the guest's RAM, with libxl's
// overlaps_rdm on both ranges.
func (l Layout) InRAM(r Region) bool {
	if overlaps(0, l.LowMemEnd, r.Start(), r.Size()) {
		return true
	}
	return l.HighMemEnd != 0 && overlaps(fourGiB, l.HighMemEnd-fourGiB, r.Start(), r.Size())
}

func (l Layout) String() string {
	s := fmt.Sprintf("low memory [0, %#x)", l.LowMemEnd)
	if l.HighMemEnd != 0 {
		s += fmt.Sprintf(", high memory [0x100000000, %#x)", l.HighMemEnd)
	}
	return s + fmt.Sprintf(", MMIO hole from %#x", l.MMIOStart)
}

// Outcome is what happens to one region.
type Outcome string

const (
	// Fits: outside guest RAM; reserved in the guest's e820.
	Fits Outcome = "fits"
	// Relocates: it was in low memory above rdm_mem_boundary, so libxl
	// ended low memory below it and moved the rest above 4 GiB.
	Relocates Outcome = "relocates low memory"
	// Refused: it overlaps guest RAM under a strict policy; the guest
	// (or the hot-plug) fails.
	Refused Outcome = "conflict, refused (strict)"
	// Ignored: it overlaps guest RAM under a relaxed policy; libxl warns
	// and does not reserve it, so the guest uses it as RAM.
	Ignored Outcome = "conflict, ignored with a warning (relaxed)"
)

// RegionCheck is the verdict on one region.
type RegionCheck struct {
	Region Region
	// Policy is the policy libxl applies to the region, and PolicyFrom
	// where it came from.
	Policy     xl.RdmPolicy
	PolicyFrom string
	Outcome    Outcome
	Reason     string
	// Message is what libxl (or Xen, for a hot-plug) logs about it.
	Message string
	// Exposed: the region is an E820_RESERVED entry of the guest's memory
	// map (domain_construct_memmap adds every region not marked invalid).
	Exposed bool
	// AfterFailure: libxl stopped at an earlier refused region and never
	// looked at this one; the outcome is what it would have been.
	AfterFailure bool
}

// AssignCheck is Xen's own verdict when libxl assigns a device with a
// region that other devices share (VT-d intel_iommu_assign_device).
type AssignCheck struct {
	Device  xl.PciBdf
	Region  Region
	Policy  xl.RdmPolicy
	Refused bool
	Message string
}

// Result is the prediction for one guest.
type Result struct {
	// Initial is the layout libxl__build_hvm computes, Final the one after
	// RDM relocation (what the guest gets).
	Initial, Final Layout
	// Regions are the regions libxl considers, in its order: with
	// strategy=host every host region, then those of the guest's devices.
	Regions []RegionCheck
	// Assign are Xen's checks of shared regions at device assignment.
	Assign []AssignCheck
	// Fails: the guest would not start.
	Fails bool
	// Errors and Warnings are the log lines libxl (and Xen) would print,
	// in order.
	Errors   []string
	Warnings []string
}

// Running is the guest as it runs, for CheckHotplug.
func (r Result) Running() Running {
	run := Running{Layout: r.Final}
	for _, c := range r.Regions {
		if c.Exposed {
			run.Reserved = append(run.Reserved, c.Region)
		}
	}
	return run
}

// Check predicts what libxl 4.17 does with the reserved regions when it
// builds guest g on a host whose regions are host (every region the host
// has, each with every device in its scope: Merge of FromXen, the DMAR and
// rmrr=). It follows libxl__build_hvm for the layout and
// libxl__domain_device_construct_rdm for the regions:
//
//   - strategy=host takes every host region with the global policy
//     (relaxed unless rdm= says otherwise); then each pci device's own
//     regions are added, or override the policy of a region already
//     taken (the last device sharing it wins). strategy=ignore still
//     takes the devices' regions.
//   - Pass 1: a region overlapping low memory and starting above
//     rdm_mem_boundary ends low memory at its start (2 MiB-aligned under
//     HAP) and moves the difference above 4 GiB.
//   - Pass 2: a region still overlapping low or high memory fails the
//     build under strict ("RDM conflict at 0x...") and is dropped with a
//     warning under relaxed ("Ignoring RDM conflict at 0x...").
//
// Then, per device, Xen's refusal of shared regions under strict.
func Check(g Guest, host []Region) (Result, error) {
	var res Result
	l, boundary, err := buildLayout(g)
	if err != nil {
		return res, err
	}
	res.Initial, res.Final = l, l

	// libxl__domain_config_setdefault refuses PoD (memory < maxmem) with
	// passthrough, before any of the below: the regions are then only
	// what libxl would have done.
	if g.MemoryMiB != 0 && g.MemoryMiB < g.maxMem() && len(g.Devices) > 0 {
		res.Fails = true
		res.Errors = append(res.Errors, "IOMMU required for device passthrough but not supported together with PoD")
	}
	failedBefore := res.Fails

	var ok bool
	if res.Regions, ok = regionList(g, host); !ok {
		return res, nil
	}
	relocated := lowerLowMem(&l, res.Regions, boundary, g.HAP)
	res.Final = l
	judgeOverlaps(&res, relocated, boundary, failedBefore)
	if !res.Fails {
		assignChecks(&res, g, host)
	}
	return res, nil
}

func (g Guest) maxMem() uint64 {
	if g.MaxMemMiB == 0 {
		return g.MemoryMiB
	}
	return g.MaxMemMiB
}

// buildLayout is libxl__build_hvm's memory layout, and the rdm_mem_boundary
// in bytes.
func buildLayout(g Guest) (Layout, uint64, error) {
	maxMem := g.maxMem()
	switch {
	case maxMem == 0:
		return Layout{}, 0, fmt.Errorf("guest has no memory")
	case g.VideoMiB >= maxMem:
		return Layout{}, 0, fmt.Errorf("video memory %d MiB leaves nothing of maxmem %d MiB", g.VideoMiB, maxMem)
	case g.MemoryMiB > maxMem:
		return Layout{}, 0, fmt.Errorf("memory %d MiB above maxmem %d MiB", g.MemoryMiB, maxMem)
	}
	boundary := g.MemBoundaryMiB
	if boundary == 0 {
		boundary = DefaultMemBoundaryMiB
	}
	l := Layout{MemSize: (maxMem - g.VideoMiB) * MiB}
	mmioSize := uint64(hvmBelow4GMMIOLength)
	if g.MMIOHoleMiB != 0 {
		hole := g.MMIOHoleMiB * MiB
		if hole < fourGiB && fourGiB-hole < hvmBelow4GMMIOStart {
			mmioSize = hole
		}
	}
	l.MMIOStart = fourGiB - mmioSize
	l.LowMemEnd = l.MemSize
	if l.LowMemEnd > l.MMIOStart {
		l.HighMemEnd = fourGiB + (l.LowMemEnd - l.MMIOStart)
		l.LowMemEnd = l.MMIOStart
	}
	return l, boundary * MiB, nil
}

// regionList is the list libxl considers, in its order: with
// strategy=host every host region under the global policy, then each
// device's own (overriding the policy of one already taken). ok=false when
// libxl returns before looking at regions at all.
func regionList(g Guest, host []Region) (list []RegionCheck, ok bool) {
	if g.Rdm.Strategy == xl.RdmStrategyIgnore && len(g.Devices) == 0 {
		return nil, false
	}
	if g.Rdm.Strategy == xl.RdmStrategyHost {
		if len(host) == 0 {
			// libxl returns early when Xen reports no region at all.
			return nil, false
		}
		pol, from := xl.RdmPolicyRelaxed, "global rdm= policy (default relaxed)"
		if g.Rdm.Policy != xl.RdmPolicyInvalid {
			pol, from = g.Rdm.Policy, "global rdm= policy"
		}
		for _, r := range host {
			list = append(list, RegionCheck{Region: r, Policy: pol, PolicyFrom: from})
		}
	}
	for _, d := range g.Devices {
		pol, from := devicePolicy(d)
	regions:
		for _, r := range ForDevice(host, d.PciBdf) {
			for j := range list {
				if list[j].Region.Start() == r.Start() {
					list[j].Policy, list[j].PolicyFrom = pol, from+" (overrides "+list[j].PolicyFrom+")"
					continue regions
				}
			}
			list = append(list, RegionCheck{Region: r, Policy: pol, PolicyFrom: from})
		}
	}
	return list, true
}

// lowerLowMem is pass 1: a region in low memory above the boundary ends
// low memory at its start and moves the difference above 4 GiB.
func lowerLowMem(l *Layout, regions []RegionCheck, boundary uint64, hap bool) (relocated []bool) {
	relocated = make([]bool, len(regions))
	for i, c := range regions {
		start := c.Region.Start()
		if !overlaps(0, l.LowMemEnd, start, c.Region.Size()) || start <= boundary {
			continue
		}
		if hap && start > hapAlign {
			start &^= hapAlign - 1
		}
		if l.HighMemEnd == 0 {
			l.HighMemEnd = fourGiB
		}
		l.HighMemEnd += l.LowMemEnd - start
		l.LowMemEnd = start
		relocated[i] = true
		regions[i].Reason = fmt.Sprintf("in low memory above rdm_mem_boundary %#x: low memory now ends at %#x, high memory at %#x", boundary, l.LowMemEnd, l.HighMemEnd)
	}
	return relocated
}

// judgeOverlaps is pass 2: a region still in guest RAM fails the build
// under strict and is ignored with a warning under relaxed. Only the first
// failure is logged, as libxl stops there.
func judgeOverlaps(res *Result, relocated []bool, boundary uint64, failedBefore bool) {
	l := res.Final
	failed := failedBefore
	for i := range res.Regions {
		c := &res.Regions[i]
		c.AfterFailure = failed
		r := c.Region
		inLow := overlaps(0, l.LowMemEnd, r.Start(), r.Size())
		inHigh := l.HighMemEnd != 0 && overlaps(fourGiB, l.HighMemEnd-fourGiB, r.Start(), r.Size())
		if !inLow && !inHigh {
			c.Exposed = true
			if relocated[i] {
				c.Outcome = Relocates // Reason from pass 1
				continue
			}
			c.Outcome = Fits
			c.Reason = fitsReason(l, r)
			continue
		}
		where := fmt.Sprintf("in guest high memory [0x100000000, %#x), which libxl never moves", l.HighMemEnd)
		if inLow {
			where = fmt.Sprintf("in guest low memory [0, %#x) and starting at or below rdm_mem_boundary %#x, where libxl does not move memory", l.LowMemEnd, boundary)
			if r.Start() > boundary {
				where = fmt.Sprintf("in guest low memory [0, %#x)", l.LowMemEnd)
			}
		}
		if c.Policy == xl.RdmPolicyStrict {
			c.Outcome = Refused
			c.Message = fmt.Sprintf("RDM conflict at %#x.", r.Start())
			c.Reason = where + "; policy strict from " + c.PolicyFrom + ": libxl refuses to build the guest"
			if !failed {
				res.Errors = append(res.Errors, c.Message, "checking reserved device memory failed")
				failed, res.Fails = true, true
			}
			continue
		}
		c.Outcome = Ignored
		c.Message = fmt.Sprintf("Ignoring RDM conflict at %#x.", r.Start())
		c.Reason = where + "; policy relaxed from " + c.PolicyFrom + ": not reserved, the guest uses it as RAM while the device may DMA into it"
		if !failed {
			res.Warnings = append(res.Warnings, c.Message)
		}
	}
}

// assignChecks is Xen's own check at xc_assign_device: shared regions.
func assignChecks(res *Result, g Guest, host []Region) {
	for _, d := range g.Devices {
		pol, _ := devicePolicy(d)
		for _, r := range ForDevice(host, d.PciBdf) {
			if !r.Shared() {
				continue
			}
			a := sharedCheck(d.PciBdf, r, pol, "d<domid>")
			res.Assign = append(res.Assign, a)
			if a.Refused {
				if !res.Fails {
					res.Errors = append(res.Errors, a.Message, "xc_assign_device failed: Operation not permitted")
				}
				res.Fails = true
			} else {
				res.Warnings = append(res.Warnings, a.Message)
			}
		}
	}
}

// devicePolicy is the device's rdm_policy after libxl__device_pci_setdefault.
func devicePolicy(d xl.DevicePci) (xl.RdmPolicy, string) {
	switch d.RdmPolicy {
	case xl.RdmPolicyStrict, xl.RdmPolicyRelaxed:
		return d.RdmPolicy, fmt.Sprintf("rdm_policy=%v of %s", d.RdmPolicy, d.PciBdf)
	}
	return xl.RdmPolicyStrict, fmt.Sprintf("libxl's default for %s without rdm_policy (strict)", d.PciBdf)
}

func fitsReason(l Layout, r Region) string {
	switch {
	case r.Start() >= l.MMIOStart && r.End() <= fourGiB:
		return fmt.Sprintf("in the MMIO hole [%#x, 0x100000000), outside guest RAM", l.MMIOStart)
	case r.End() <= fourGiB && r.Start() >= l.LowMemEnd:
		return fmt.Sprintf("between the end of low memory %#x and 4 GiB, outside guest RAM", l.LowMemEnd)
	}
	return "outside guest RAM"
}

// sharedCheck is VT-d's rule for a region with more than one device in its
// scope (intel_iommu_assign_device): refused under strict, a warning under
// relaxed.
func sharedCheck(d xl.PciBdf, r Region, pol xl.RdmPolicy, dom string) AssignCheck {
	a := AssignCheck{Device: d, Region: r, Policy: pol}
	if pol == xl.RdmPolicyStrict {
		a.Refused = true
		a.Message = fmt.Sprintf("(XEN) [VT-D] It's disallowed to assign %s with shared RMRR at %x for %s.", d, r.Start(), dom)
	} else {
		a.Message = fmt.Sprintf("(XEN) [VT-D] It's risky to assign %s with shared RMRR at %x for %s.", d, r.Start(), dom)
	}
	return a
}

// Running is what CheckHotplug needs to know of a running HVM guest: its
// RAM layout, and the regions its e820 reserves (those libxl exposed when
// it built the guest; Result.Running gives both).
type Running struct {
	Domain   string
	Layout   Layout
	Reserved []Region
}

// HotplugResult is the prediction for hot-plugging one device.
type HotplugResult struct {
	Device     xl.PciBdf
	Policy     xl.RdmPolicy
	PolicyFrom string
	Regions    []RegionCheck
	Assign     []AssignCheck
	// Refused: Xen will refuse the assignment, so xlpt should refuse
	// before calling libxl.
	Refused  bool
	Errors   []string
	Warnings []string
}

// CheckHotplug predicts the hot-plug of dev into a running HVM guest. libxl
// does no RDM check on hot-plug: it passes the device's rdm_policy (strict
// unless given) to xc_assign_device, and Xen identity-maps each of the
// device's regions into the guest (p2m_add_identity_entry). A region the
// guest reserved at build fits; one in guest RAM makes Xen log "Cannot
// setup identity map d<dom>:<gfn>, gfn already mapped to <mfn>." and fail
// with EBUSY under strict, or go on under relaxed, leaving guest RAM where
// the device expects its region. hostRegions are the host's regions, each
// with every device in its scope.
func CheckHotplug(g Running, dev xl.DevicePci, hostRegions []Region) HotplugResult {
	pol, from := devicePolicy(dev)
	h := HotplugResult{Device: dev.PciBdf, Policy: pol, PolicyFrom: from}
	dom := g.Domain
	if dom == "" {
		dom = "d<domid>"
	}
	for _, r := range ForDevice(hostRegions, dev.PciBdf) {
		c := RegionCheck{Region: r, Policy: pol, PolicyFrom: from}
		reserved := false
		for _, x := range g.Reserved {
			if x.StartPFN == r.StartPFN {
				reserved = true
			}
		}
		switch {
		case reserved:
			c.Outcome, c.Exposed = Fits, true
			c.Reason = "reserved in the guest's memory map when it was built"
		case g.Layout.InRAM(r):
			c.Message = fmt.Sprintf("(XEN) Cannot setup identity map %s:%x, gfn already mapped to <mfn>.", dom, r.StartPFN)
			if pol == xl.RdmPolicyStrict {
				c.Outcome = Refused
				c.Reason = "in guest RAM (" + g.Layout.String() + "); policy strict from " + from + ": Xen refuses the assignment (EBUSY). Create the guest with rdm=\"strategy=host\" to reserve it, or use rdm_policy=relaxed"
				h.Refused = true
				h.Errors = append(h.Errors, c.Message, "xc_assign_device failed: Device or resource busy")
			} else {
				c.Outcome = Ignored
				c.Reason = "in guest RAM (" + g.Layout.String() + "); policy relaxed from " + from + ": Xen keeps the guest's RAM there, and the device's DMA to the region lands in guest memory"
				h.Warnings = append(h.Warnings, c.Message)
			}
		default:
			c.Outcome = Fits
			c.Reason = fitsReason(g.Layout, r) + "; not reserved in the guest's memory map, so a BAR placed there by hvmloader would collide"
		}
		h.Regions = append(h.Regions, c)
		if r.Shared() {
			a := sharedCheck(dev.PciBdf, r, pol, dom)
			h.Assign = append(h.Assign, a)
			if a.Refused {
				h.Refused = true
				h.Errors = append(h.Errors, a.Message, "xc_assign_device failed: Operation not permitted")
			} else {
				h.Warnings = append(h.Warnings, a.Message)
			}
		}
	}
	return h
}

// GuestFromConfig rebuilds the Guest of a running HVM domain from the
// configuration libxl stored for it (xl.DomainConfig), so that
// Check(...).Running() gives CheckHotplug the layout it was built with.
// The stored configuration lacks video memory, mmio_hole and hap: pass
// them (DefaultVideoMiB("cirrus", false), 0 and true are xl's defaults).
// Devices hot-plugged since creation are in the stored list too; with
// strategy=ignore they may add regions the build never saw, so pass
// only the devices present at creation when they are known (bootDevices
// nil: take the stored list). Memory is taken as maxmem: a running guest
// with passthrough cannot be PoD.
func GuestFromConfig(dc xl.DomainConfig, bootDevices []xl.DevicePci, videoMiB, mmioHoleMiB uint64, hap bool) Guest {
	g := Guest{
		MemoryMiB:      dc.MaxMemKB / 1024,
		MaxMemMiB:      dc.MaxMemKB / 1024,
		VideoMiB:       videoMiB,
		MMIOHoleMiB:    mmioHoleMiB,
		HAP:            hap,
		Rdm:            dc.Rdm,
		MemBoundaryMiB: dc.RdmMemBoundaryKB / 1024,
		Devices:        bootDevices,
	}
	if bootDevices == nil {
		g.Devices = dc.Pcidevs
	}
	return g
}
