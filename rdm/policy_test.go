package rdm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// The host of the policy tests. Addresses are chosen against the default
// layout: boundary 2 GiB (0x80000000), MMIO hole [0xf0000000, 4 GiB).
var (
	devA  = bdf(0, 0, 0x03, 0) // own region in the BIOS area, like the testbed's rmrr=0xf0-0xff
	devB1 = bdf(0, 0, 0x07, 0) // B1 and B2 share one page just below 2 GiB
	devB2 = bdf(0, 0, 0x08, 0)
	devC  = bdf(0, 0, 0x14, 0) // 8 MiB at 0xab800000: low memory, above the boundary
	devD  = bdf(0, 0, 0x1a, 0) // above 4 GiB
	devE  = bdf(0, 0, 0x1b, 0) // in the MMIO hole
	devF  = bdf(0, 0, 0x1c, 0) // 0x90000000, above the boundary, below C
	devG  = bdf(0, 0, 0x1d, 0) // straddles the boundary
	devH  = bdf(0, 0, 0x1e, 0) // above the boundary, not 2 MiB aligned
	devI  = bdf(0, 0, 0x1f, 0) // exactly at the boundary

	regA = Region{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{devA}}
	regB = Region{StartPFN: 0x7ffdf, NrPages: 1, Devices: []xl.PciBdf{devB1, devB2}}
	regC = Region{StartPFN: 0xab800, NrPages: 0x800, Devices: []xl.PciBdf{devC}}
	regD = Region{StartPFN: 0x120000, NrPages: 0x10, Devices: []xl.PciBdf{devD}}
	regE = Region{StartPFN: 0xfe000, NrPages: 0x10, Devices: []xl.PciBdf{devE}}
	regF = Region{StartPFN: 0x90000, NrPages: 0x10, Devices: []xl.PciBdf{devF}}
	regG = Region{StartPFN: 0x7ff00, NrPages: 0x200, Devices: []xl.PciBdf{devG}}
	regH = Region{StartPFN: 0xab880, NrPages: 0x10, Devices: []xl.PciBdf{devH}}
	regI = Region{StartPFN: 0x80000, NrPages: 0x10, Devices: []xl.PciBdf{devI}}
)

func dev(b xl.PciBdf, p xl.RdmPolicy) xl.DevicePci {
	d := xl.NewDevicePci()
	d.PciBdf, d.RdmPolicy = b, p
	return d
}

const (
	strict  = xl.RdmPolicyStrict
	relaxed = xl.RdmPolicyRelaxed
	unset   = xl.RdmPolicyInvalid
)

var (
	ignoreRdm = xl.RdmReserve{Strategy: xl.RdmStrategyIgnore, Policy: unset}
	hostRdm   = xl.RdmReserve{Strategy: xl.RdmStrategyHost, Policy: unset}
)

func hostWith(p xl.RdmPolicy) xl.RdmReserve {
	return xl.RdmReserve{Strategy: xl.RdmStrategyHost, Policy: p}
}

// want is one region's expected verdict, found by following
// libxl__domain_device_construct_rdm by hand.
type want struct {
	start   uint64
	outcome Outcome
	policy  xl.RdmPolicy
	from    string // substring of PolicyFrom
	reason  string // substring of Reason
	after   bool
}

func TestCheck(t *testing.T) {
	host := Merge([]Region{regA, regB, regC, regD, regE, regF, regG, regH})
	cases := []struct {
		name     string
		why      string
		g        Guest
		host     []Region
		low      uint64 // final LowMemEnd
		high     uint64 // final HighMemEnd
		regions  []want
		fails    bool
		errors   []string
		warnings []string
	}{
		{
			name: "testbed strict: device default strict, region below boundary",
			why:  "rdm= unset (or dropped by xl): only the device's region; libxl__device_pci_setdefault makes it strict; 0xf0000 is RAM below the boundary",
			g:    Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devA, unset)}},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Refused, policy: strict, from: "default", reason: "at or below rdm_mem_boundary"},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0xf0000.", "checking reserved device memory failed"},
		},
		{
			name: "testbed relaxed: per-device relaxed",
			g:    Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devA, relaxed)}},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Ignored, policy: relaxed, from: "rdm_policy=relaxed of 0000:00:03.0"},
			},
			warnings: []string{"Ignoring RDM conflict at 0xf0000."},
		},
		{
			name: "per-device strict overrides global relaxed",
			why:  "strategy=host takes all regions with relaxed; A is then overridden by its device's default strict and refused; libxl stops there",
			g:    Guest{MemoryMiB: 1024, Rdm: hostWith(relaxed), HAP: true, Devices: []xl.DevicePci{dev(devA, unset)}},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Refused, policy: strict, from: "overrides global"},
				{start: 0x7ff00000, outcome: Fits, policy: relaxed, after: true, reason: "between the end of low memory"},
				{start: 0x7ffdf000, outcome: Fits, policy: relaxed, after: true},
				{start: 0x90000000, outcome: Fits, policy: relaxed, after: true},
				{start: 0xab800000, outcome: Fits, policy: relaxed, after: true},
				{start: 0xab880000, outcome: Fits, policy: relaxed, after: true},
				{start: 0xfe000000, outcome: Fits, policy: relaxed, after: true, reason: "MMIO hole"},
				{start: 0x120000000, outcome: Fits, policy: relaxed, after: true, reason: "outside guest RAM"},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0xf0000.", "checking reserved device memory failed"},
		},
		{
			name: "per-device relaxed overrides global strict",
			g:    Guest{MemoryMiB: 1024, Rdm: hostWith(strict), HAP: true, Devices: []xl.DevicePci{dev(devA, relaxed)}},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Ignored, policy: relaxed, from: "overrides global rdm= policy"},
				{start: 0x7ff00000, outcome: Fits, policy: strict},
				{start: 0x7ffdf000, outcome: Fits, policy: strict},
				{start: 0x90000000, outcome: Fits, policy: strict},
				{start: 0xab800000, outcome: Fits, policy: strict},
				{start: 0xab880000, outcome: Fits, policy: strict},
				{start: 0xfe000000, outcome: Fits, policy: strict},
				{start: 0x120000000, outcome: Fits, policy: strict},
			},
			warnings: []string{"Ignoring RDM conflict at 0xf0000."},
		},
		{
			name: "strategy=host, no devices, global default relaxed",
			why:  "the platform region in low RAM is dropped with a warning; the guest starts",
			g:    Guest{MemoryMiB: 1024, Rdm: hostRdm, HAP: true},
			host: []Region{regA, regE},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Ignored, policy: relaxed, from: "default relaxed"},
				{start: 0xfe000000, outcome: Fits, policy: relaxed},
			},
			warnings: []string{"Ignoring RDM conflict at 0xf0000."},
		},
		{
			name: "strategy=host, global strict, no devices",
			g:    Guest{MemoryMiB: 1024, Rdm: hostWith(strict), HAP: true},
			host: []Region{regA},
			low:  0x40000000,
			regions: []want{
				{start: 0xf0000, outcome: Refused, policy: strict, from: "global rdm= policy"},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0xf0000.", "checking reserved device memory failed"},
		},
		{
			name: "strategy=ignore without devices looks at nothing",
			g:    Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true},
			low:  0x40000000,
		},
		{
			name: "strategy=host on a host without regions",
			g:    Guest{MemoryMiB: 1024, Rdm: hostWith(strict), HAP: true, Devices: []xl.DevicePci{dev(devA, unset)}},
			host: []Region{},
			low:  0x40000000,
		},
		{
			name: "strategy=ignore ignores other devices' regions",
			why:  "only the guest's device C counts; A (in RAM) belongs to no guest device",
			g:    Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devC, unset)}},
			low:  0x40000000,
			regions: []want{
				{start: 0xab800000, outcome: Fits, policy: strict, reason: "between the end of low memory"},
			},
		},
		{
			name: "region above the boundary relocates low memory",
			why:  "maxmem 3072 - video 8 = 0xbf800000 of low memory; C at 0xab800000 > 2 GiB: low memory ends at C, 0x14000000 bytes go above 4 GiB",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devC, unset)}},
			low:  0xab800000, high: 0x114000000,
			regions: []want{
				{start: 0xab800000, outcome: Relocates, policy: strict, reason: "low memory now ends at 0xab800000"},
			},
		},
		{
			name: "HAP rounds the new low memory end down to 2 MiB",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devH, unset)}},
			low:  0xab800000, high: 0x114000000,
			regions: []want{
				{start: 0xab880000, outcome: Relocates, policy: strict},
			},
		},
		{
			name: "shadow paging keeps the exact region start",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: false, Devices: []xl.DevicePci{dev(devH, unset)}},
			low:  0xab880000, high: 0x113f80000,
			regions: []want{
				{start: 0xab880000, outcome: Relocates, policy: strict},
			},
		},
		{
			name: "two regions above the boundary: the lower one wins",
			why:  "F (0x90000000) comes first in host order and moves low memory to it; C is then above low memory and fits",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: hostWith(strict), HAP: true},
			host: []Region{regF, regC},
			low:  0x90000000, high: 0x12f800000,
			regions: []want{
				{start: 0x90000000, outcome: Relocates, policy: strict},
				{start: 0xab800000, outcome: Fits, policy: strict, reason: "between the end of low memory 0x90000000"},
			},
		},
		{
			name: "region straddling the boundary is not moved",
			why:  "G starts at 0x7ff00000 <= 2 GiB: pass 1 leaves it, pass 2 finds it in RAM",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devG, relaxed)}},
			low:  0xbf800000,
			regions: []want{
				{start: 0x7ff00000, outcome: Ignored, policy: relaxed, reason: "at or below rdm_mem_boundary"},
			},
			warnings: []string{"Ignoring RDM conflict at 0x7ff00000."},
		},
		{
			name: "region starting exactly at the boundary is not moved",
			why:  "libxl moves only regions with start > boundary",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devI, strict)}},
			host: []Region{regI},
			low:  0xbf800000,
			regions: []want{
				{start: 0x80000000, outcome: Refused, policy: strict, reason: "at or below rdm_mem_boundary"},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0x80000000.", "checking reserved device memory failed"},
		},
		{
			name: "lower rdm_mem_boundary turns a conflict into a relocation",
			why:  "boundary 1024 MiB: B at 0x7ffdf000 is above it; HAP aligns to 0x7fe00000; high memory gets 0xbf800000-0x7fe00000",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, MemBoundaryMiB: 1024, HAP: true, Devices: []xl.DevicePci{dev(devB1, relaxed)}},
			low:  0x7fe00000, high: 0x13fa00000,
			regions: []want{
				{start: 0x7ffdf000, outcome: Relocates, policy: relaxed},
			},
			warnings: []string{"(XEN) [VT-D] It's risky to assign 0000:00:07.0 with shared RMRR at 7ffdf000 for d<domid>."},
		},
		{
			name: "default boundary: the same region is a conflict",
			g:    Guest{MemoryMiB: 3072, VideoMiB: 8, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devB1, strict)}},
			low:  0xbf800000,
			regions: []want{
				{start: 0x7ffdf000, outcome: Refused, policy: strict},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0x7ffdf000.", "checking reserved device memory failed"},
		},
		{
			name: "shared region outside RAM: libxl passes, Xen refuses strict",
			why:  "1 GiB guest: B is above low memory; but B1 is strict and B is shared: VT-d refuses (EPERM), as on the testbed",
			g:    Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devB1, unset)}},
			low:  0x40000000,
			regions: []want{
				{start: 0x7ffdf000, outcome: Fits, policy: strict},
			},
			fails:  true,
			errors: []string{"(XEN) [VT-D] It's disallowed to assign 0000:00:07.0 with shared RMRR at 7ffdf000 for d<domid>.", "xc_assign_device failed: Operation not permitted"},
		},
		{
			name: "shared region, both sharers in the guest: the last device's policy wins",
			why:  "B1 strict then B2 relaxed: libxl overrides the region's policy with each device in turn, so relaxed; Xen still refuses B1 (strict, shared)",
			g:    Guest{MemoryMiB: 4096, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devB1, strict), dev(devB2, relaxed)}},
			low:  0xf0000000, high: 0x110000000,
			regions: []want{
				{start: 0x7ffdf000, outcome: Ignored, policy: relaxed, from: "rdm_policy=relaxed of 0000:00:08.0 (overrides rdm_policy=strict of 0000:00:07.0)"},
			},
			fails:    true,
			warnings: []string{"Ignoring RDM conflict at 0x7ffdf000.", "(XEN) [VT-D] It's risky to assign 0000:00:08.0 with shared RMRR at 7ffdf000 for d<domid>."},
			errors:   []string{"(XEN) [VT-D] It's disallowed to assign 0000:00:07.0 with shared RMRR at 7ffdf000 for d<domid>.", "xc_assign_device failed: Operation not permitted"},
		},
		{
			name: "region in high memory is never moved",
			why:  "6 GiB: low memory to 0xf0000000, high memory to 0x190000000; D at 0x120000000 is in it",
			g:    Guest{MemoryMiB: 6144, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devD, unset)}},
			low:  0xf0000000, high: 0x190000000,
			regions: []want{
				{start: 0x120000000, outcome: Refused, policy: strict, reason: "high memory"},
			},
			fails:  true,
			errors: []string{"RDM conflict at 0x120000000.", "checking reserved device memory failed"},
		},
		{
			name: "relocation grows high memory over a high region",
			why:  "host relaxed, 6 GiB: C relocates low memory (+0x44800000 above 4 GiB: high end 0x1d4800000); D in high memory is ignored",
			g:    Guest{MemoryMiB: 6144, Rdm: hostRdm, HAP: true},
			host: []Region{regC, regD},
			low:  0xab800000, high: 0x1d4800000,
			regions: []want{
				{start: 0xab800000, outcome: Relocates, policy: relaxed},
				{start: 0x120000000, outcome: Ignored, policy: relaxed, reason: "high memory"},
			},
			warnings: []string{"Ignoring RDM conflict at 0x120000000."},
		},
		{
			name: "larger mmio_hole lowers low memory first",
			why:  "mmio_hole 1024: low memory ends at 0xc0000000, high at 0x140000000; C then relocates to 0xab800000 (+0x14800000)",
			g:    Guest{MemoryMiB: 4096, MMIOHoleMiB: 1024, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devC, unset)}},
			low:  0xab800000, high: 0x154800000,
			regions: []want{
				{start: 0xab800000, outcome: Relocates, policy: strict},
			},
		},
		{
			name: "mmio_hole below the default is ignored",
			g:    Guest{MemoryMiB: 4096, MMIOHoleMiB: 128, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devE, unset)}},
			low:  0xf0000000, high: 0x110000000,
			regions: []want{
				{start: 0xfe000000, outcome: Fits, policy: strict, reason: "MMIO hole [0xf0000000"},
			},
		},
		{
			name: "PoD with passthrough fails before RDM",
			g:    Guest{MemoryMiB: 1024, MaxMemMiB: 2048, Rdm: ignoreRdm, HAP: true, Devices: []xl.DevicePci{dev(devA, unset)}},
			low:  0x80000000,
			regions: []want{
				{start: 0xf0000, outcome: Refused, policy: strict, after: true},
			},
			fails:  true,
			errors: []string{"IOMMU required for device passthrough but not supported together with PoD"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.host
			if h == nil {
				h = host
			}
			res, err := Check(c.g, h)
			if err != nil {
				t.Fatal(err)
			}
			if res.Final.LowMemEnd != c.low || res.Final.HighMemEnd != c.high {
				t.Errorf("layout: low %#x high %#x, want low %#x high %#x (%s)", res.Final.LowMemEnd, res.Final.HighMemEnd, c.low, c.high, c.why)
			}
			if len(res.Regions) != len(c.regions) {
				t.Fatalf("%d regions, want %d: %+v (%s)", len(res.Regions), len(c.regions), res.Regions, c.why)
			}
			for i, w := range c.regions {
				r := res.Regions[i]
				if r.Region.Start() != w.start || r.Outcome != w.outcome || r.Policy != w.policy || r.AfterFailure != w.after ||
					!strings.Contains(r.PolicyFrom, w.from) || !strings.Contains(r.Reason, w.reason) {
					t.Errorf("region %d: got start %#x %q policy %v from %q after %v\n   reason %q\nwant %+v (%s)",
						i, r.Region.Start(), r.Outcome, r.Policy, r.PolicyFrom, r.AfterFailure, r.Reason, w, c.why)
				}
				if r.Reason == "" {
					t.Errorf("region %d has no reason", i)
				}
				if r.Exposed != (r.Outcome == Fits || r.Outcome == Relocates) {
					t.Errorf("region %d: exposed %v with outcome %q", i, r.Exposed, r.Outcome)
				}
			}
			if res.Fails != c.fails {
				t.Errorf("fails = %v, want %v (%s)", res.Fails, c.fails, c.why)
			}
			if !reflect.DeepEqual(res.Errors, c.errors) {
				t.Errorf("errors %q, want %q", res.Errors, c.errors)
			}
			if !reflect.DeepEqual(res.Warnings, c.warnings) {
				t.Errorf("warnings %q, want %q", res.Warnings, c.warnings)
			}
		})
	}
}

func TestCheckInitialLayout(t *testing.T) {
	cases := []struct {
		g                        Guest
		memsize, mmio, low, high uint64
	}{
		{Guest{MemoryMiB: 1024, VideoMiB: 8}, 1016 * MiB, 0xf0000000, 1016 * MiB, 0},
		{Guest{MemoryMiB: 512, MaxMemMiB: 512, VideoMiB: 16}, 496 * MiB, 0xf0000000, 496 * MiB, 0},
		// 4096 - 8 = 4088 MiB: 0xff800000, of which 0x0f800000 above the hole.
		{Guest{MemoryMiB: 4096, VideoMiB: 8}, 4088 * MiB, 0xf0000000, 0xf0000000, 0x10f800000},
		{Guest{MemoryMiB: 8192, MMIOHoleMiB: 2048}, 8192 * MiB, 0x80000000, 0x80000000, 0x280000000},
	}
	for _, c := range cases {
		res, err := Check(c.g, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := res.Initial
		if l.MemSize != c.memsize || l.MMIOStart != c.mmio || l.LowMemEnd != c.low || l.HighMemEnd != c.high || res.Final != l {
			t.Errorf("%+v: %+v", c.g, l)
		}
	}
	for _, g := range []Guest{{}, {MemoryMiB: 8, VideoMiB: 8}, {MemoryMiB: 2048, MaxMemMiB: 1024}} {
		if _, err := Check(g, nil); err == nil {
			t.Errorf("%+v accepted", g)
		}
	}
}

func TestDefaultVideoMiB(t *testing.T) {
	cases := []struct {
		vga  string
		trad bool
		mib  uint64
		err  bool
	}{
		{"", false, 8, false}, {"cirrus", true, 4, false}, {"stdvga", false, 16, false},
		{"stdvga", true, 8, false}, {"qxl", false, 128, false}, {"qxl", true, 0, true},
		{"none", false, 0, false}, {"vesa", false, 0, true},
	}
	for _, c := range cases {
		m, err := DefaultVideoMiB(c.vga, c.trad)
		if m != c.mib || (err != nil) != c.err {
			t.Errorf("%q trad=%v: %d %v", c.vga, c.trad, m, err)
		}
	}
}

func TestXlDevice(t *testing.T) {
	if d := XlDevice(hostWith(relaxed)); d.RdmPolicy != relaxed {
		t.Errorf("global relaxed not copied: %v", d.RdmPolicy)
	}
	if d := XlDevice(ignoreRdm); d.RdmPolicy != unset {
		t.Errorf("unset global gave %v", d.RdmPolicy)
	}
}

func TestCheckHotplug(t *testing.T) {
	host := Merge([]Region{regA, regB, regC, regE})
	// A 1 GiB guest created without passthrough devices and rdm unset:
	// nothing reserved.
	plain, err := Check(Guest{MemoryMiB: 1024, Rdm: ignoreRdm, HAP: true}, host)
	if err != nil {
		t.Fatal(err)
	}
	// The same guest created with strategy=host: C (outside RAM) is
	// reserved, A (in RAM, relaxed) was dropped.
	reserved, err := Check(Guest{MemoryMiB: 1024, Rdm: hostRdm, HAP: true}, host)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		run      Running
		d        xl.DevicePci
		outcomes []Outcome
		refused  bool
		reason   string
	}{
		{"region in RAM, strict by default", plain.Running(), dev(devA, unset), []Outcome{Refused}, true, "strategy=host"},
		{"region in RAM, relaxed", plain.Running(), dev(devA, relaxed), []Outcome{Ignored}, false, "lands in guest memory"},
		{"strategy=host could not save a region in RAM", reserved.Running(), dev(devA, strict), []Outcome{Refused}, true, ""},
		{"reserved at creation", reserved.Running(), dev(devC, strict), []Outcome{Fits}, false, "reserved in the guest's memory map"},
		{"outside RAM, not reserved", plain.Running(), dev(devC, strict), []Outcome{Fits}, false, "not reserved"},
		{"shared region, strict", plain.Running(), dev(devB1, unset), []Outcome{Fits}, true, ""},
		{"shared region, relaxed", plain.Running(), dev(devB2, relaxed), []Outcome{Fits}, false, ""},
		{"device without regions", plain.Running(), dev(devD, strict), nil, false, ""},
	}
	for _, c := range cases {
		h := CheckHotplug(c.run, c.d, host)
		var got []Outcome
		for _, r := range h.Regions {
			got = append(got, r.Outcome)
			if !strings.Contains(r.Reason, c.reason) {
				t.Errorf("%s: reason %q lacks %q", c.name, r.Reason, c.reason)
			}
		}
		if !reflect.DeepEqual(got, c.outcomes) || h.Refused != c.refused {
			t.Errorf("%s: outcomes %v refused %v, want %v %v (%+v)", c.name, got, h.Refused, c.outcomes, c.refused, h)
		}
		if h.Refused && len(h.Errors) == 0 {
			t.Errorf("%s: refused without an error line", c.name)
		}
	}
	if h := CheckHotplug(plain.Running(), dev(devA, relaxed), host); len(h.Warnings) != 1 || !strings.HasPrefix(h.Warnings[0], "(XEN) Cannot setup identity map d<domid>:f0, gfn already mapped") {
		t.Errorf("relaxed warning %q", h.Warnings)
	}
}

func TestMergeAndFromXen(t *testing.T) {
	dmar := []Region{{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{devA}, Sources: []Source{SourceDMAR}}}
	cmd := []Region{{StartPFN: 0x7ffdf, NrPages: 1, Devices: []xl.PciBdf{devB2, devB1}, Sources: []Source{SourceCmdline}}}
	xen := FromXen([]Extent{{0x7ffdf, 1}, {0xf0, 0x10}}, map[xl.PciBdf][]Extent{devB1: {{0x7ffdf, 1}}, devA: {{0xf0, 0x10}}})
	got := Merge(xen, dmar, cmd)
	want := []Region{
		{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{devA}, Sources: []Source{SourceXen, SourceDMAR}},
		{StartPFN: 0x7ffdf, NrPages: 1, Devices: []xl.PciBdf{devB1, devB2}, Sources: []Source{SourceXen, SourceCmdline}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merge\n got %+v\nwant %+v", got, want)
	}
	if !got[1].Shared() || got[0].Shared() {
		t.Error("shared flags")
	}
	if got[1].String() != "[0x7ffdf000-0x7ffdffff]" || got[1].DeviceList() != "0000:00:07.0,0000:00:08.0" {
		t.Errorf("%s %s", got[1], got[1].DeviceList())
	}
}

func TestGuestFromConfig(t *testing.T) {
	dc := xl.DomainConfig{MaxMemKB: 1024 * 1024, TargetMemKB: 512 * 1024, Rdm: hostWith(relaxed),
		RdmMemBoundaryKB: 2048 * 1024, Pcidevs: []xl.DevicePci{dev(devA, relaxed)}}
	g := GuestFromConfig(dc, nil, 8, 0, true)
	if g.MemoryMiB != 1024 || g.MaxMemMiB != 1024 || g.VideoMiB != 8 || g.MemBoundaryMiB != 2048 || len(g.Devices) != 1 || g.Rdm != dc.Rdm {
		t.Errorf("%+v", g)
	}
	res, err := Check(g, []Region{regA, regC})
	if err != nil || res.Fails {
		t.Fatalf("%v %+v", err, res)
	}
	run := res.Running()
	// A was in RAM (ignored, not reserved); C was reserved.
	if len(run.Reserved) != 1 || run.Reserved[0].StartPFN != regC.StartPFN || run.Layout.LowMemEnd != 1016*MiB {
		t.Errorf("running %+v", run)
	}
	if g := GuestFromConfig(dc, []xl.DevicePci{}, 8, 0, true); len(g.Devices) != 0 {
		t.Errorf("boot devices not used: %+v", g.Devices)
	}
}
