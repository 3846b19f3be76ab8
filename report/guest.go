package report

import (
	"strings"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

// RegionsDoc is rdm list's document.
type RegionsDoc struct {
	Envelope
	Regions []Region `json:"regions"`
}

// Region is one reserved region, merged across its sources.
type Region struct {
	Start    uint64      `json:"start"`
	End      uint64      `json:"end"` // inclusive
	StartPFN uint64      `json:"start_pfn"`
	NrPages  uint64      `json:"nr_pages"`
	Sources  []string    `json:"sources"` // xen, dmar, rmrr (Xen's rmrr= option)
	Shared   bool        `json:"shared"`
	Devices  []xl.PciBdf `json:"devices"`
}

// Regions is rdm list's document.
func Regions(regs []rdm.Region) *RegionsDoc {
	doc := &RegionsDoc{Regions: make([]Region, 0, len(regs))}
	for _, r := range regs {
		doc.Regions = append(doc.Regions, region(r))
	}
	return doc
}

func region(r rdm.Region) Region {
	src := []string{}
	for _, x := range r.Sources {
		src = append(src, strings.TrimSuffix(string(x), "="))
	}
	return Region{Start: r.Start(), End: r.End() - 1, StartPFN: r.StartPFN, NrPages: r.NrPages,
		Sources: src, Shared: r.Shared(), Devices: orEmpty(r.Devices)}
}

// Layout is a guest's memory layout, in bytes.
type Layout struct {
	MemSize    uint64 `json:"mem_size"`
	MMIOStart  uint64 `json:"mmio_start"`
	LowMemEnd  uint64 `json:"lowmem_end"`
	HighMemEnd uint64 `json:"highmem_end"`
}

func layout(l rdm.Layout) Layout { return Layout{l.MemSize, l.MMIOStart, l.LowMemEnd, l.HighMemEnd} }

// RegionCheck is one region's fate when libxl builds the guest.
type RegionCheck struct {
	Region
	Policy       string `json:"policy"`
	PolicyFrom   string `json:"policy_from"`
	Outcome      string `json:"outcome"` // fits, relocates, refused, ignored
	Reason       string `json:"reason"`
	Message      string `json:"message,omitempty"`
	Exposed      bool   `json:"reserved_in_guest"`
	AfterFailure bool   `json:"after_failure,omitempty"`
}

// outcomeWord names each rdm.Outcome in one word.
var outcomeWord = map[rdm.Outcome]string{rdm.Fits: "fits", rdm.Relocates: "relocates", rdm.Refused: "refused", rdm.Ignored: "ignored"}

// RdmCheckDoc is rdm check's document; cfg check carries the same fields
// under "rdm".
type RdmCheckDoc struct {
	Envelope
	RdmCheck
}

// RdmCheck is libxl 4.17's outcome for a guest's reserved regions.
type RdmCheck struct {
	Strategy string        `json:"strategy"`
	Policy   string        `json:"policy"`
	Initial  Layout        `json:"layout_before"`
	Final    Layout        `json:"layout"`
	Regions  []RegionCheck `json:"regions"`
	Errors   []string      `json:"libxl_errors"`
	Warnings []string      `json:"libxl_warnings"`
	Verdict  string        `json:"verdict"` // starts, fails
	Message  string        `json:"message"`
}

// Rdm is rdm check's document.
func Rdm(g rdm.Guest, res rdm.Result) *RdmCheckDoc { return &RdmCheckDoc{RdmCheck: rdmCheck(g, res)} }

func rdmCheck(g rdm.Guest, res rdm.Result) RdmCheck {
	regs := make([]RegionCheck, 0, len(res.Regions))
	for _, r := range res.Regions {
		regs = append(regs, RegionCheck{region(r.Region), r.Policy.String(), r.PolicyFrom, outcomeWord[r.Outcome],
			r.Reason, r.Message, r.Exposed, r.AfterFailure})
	}
	v, m := "starts", "the guest would start"
	if res.Fails {
		v, m = "fails", "the guest would fail to start"
	}
	return RdmCheck{g.Rdm.Strategy.String(), g.EffectivePolicy().String(), layout(res.Initial), layout(res.Final),
		regs, orEmpty(res.Errors), orEmpty(res.Warnings), v, m}
}

// CfgCheckDoc is cfg check's document.
type CfgCheckDoc struct {
	Envelope
	*GuestCheck
}

// CfgCheck is cfg check's document.
func CfgCheck(chk *GuestCheck) *CfgCheckDoc { return &CfgCheckDoc{GuestCheck: chk} }

// GuestCheck is the guest check of cfg check, add-pci and remove-pci.
type GuestCheck struct {
	File     string            `json:"file"`
	Guest    Guest             `json:"guest"`
	Findings []hotplug.Finding `json:"findings"` // level: ok, warn, fail
	Rdm      *RdmCheck         `json:"rdm,omitempty"`
	Verdict  string            `json:"verdict"` // ready, fails
	Message  string            `json:"message"`
	// Report is what the document says, for the text.
	Report hotplug.GuestReport `json:"-"`
}

// Guest is a guest's settings as xl reads its xl.cfg.
type Guest struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	MemoryMiB   uint64   `json:"memory_mib"`
	MaxMemMiB   uint64   `json:"maxmem_mib"`
	DeviceModel string   `json:"device_model_version,omitempty"`
	Passthrough string   `json:"passthrough,omitempty"`
	Pci         []string `json:"pci"`
}

// CheckGuest is the check of the guest in the xl.cfg at path.
func CheckGuest(path string, r hotplug.GuestReport) *GuestCheck {
	g := r.Config
	doc := &GuestCheck{File: path, Report: r, Findings: orEmpty(r.Findings),
		Guest: Guest{Name: g.Name, Type: g.Type.String(), MemoryMiB: g.MemoryMiB, MaxMemMiB: g.MaxMemMiB,
			DeviceModel: g.DeviceModel, Passthrough: g.Passthrough, Pci: []string{}}}
	for _, e := range g.Entries {
		doc.Guest.Pci = append(doc.Guest.Pci, e.Spec)
	}
	if r.Rdm != nil {
		j := rdmCheck(g.RdmGuest(), *r.Rdm)
		doc.Rdm = &j
	}
	doc.Verdict, doc.Message = "ready", "the guest would start with its devices"
	if r.Fails() {
		doc.Verdict, doc.Message = "fails", "the guest would fail to start, or a device would be refused"
	}
	return doc
}

// CfgEditDoc is cfg add-pci's and remove-pci's document: the edit, then
// the guest as cfg check sees it afterwards (null: it was not checked).
type CfgEditDoc struct {
	Envelope
	Outcome string      `json:"outcome"` // added, removed
	File    string      `json:"file"`
	Spec    string      `json:"spec,omitempty"`    // added
	Removed []string    `json:"removed,omitempty"` // the entries removed
	Check   *GuestCheck `json:"check"`
}

// CfgAdded is cfg add-pci's document: spec added to the file at path.
func CfgAdded(path, spec string) *CfgEditDoc {
	return &CfgEditDoc{Outcome: "added", File: path, Spec: spec}
}

// CfgRemoved is cfg remove-pci's document: the entries removed.
func CfgRemoved(path string, removed []string) *CfgEditDoc {
	return &CfgEditDoc{Outcome: "removed", File: path, Removed: removed}
}
