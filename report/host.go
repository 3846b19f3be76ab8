package report

import (
	"time"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/xl"
)

// SRIOVListDoc is sriov list's document.
type SRIOVListDoc struct {
	Envelope
	PFs []PF `json:"pfs"`
}

// PF is one SR-IOV PF: offset and stride null when the PF does not
// report them (0 would put VF 0 at the PF's own address, so it means
// unknown).
type PF struct {
	BDF       xl.PciBdf        `json:"bdf"`
	ID        string           `json:"id"`
	Driver    string           `json:"driver"`
	TotalVFs  int              `json:"total_vfs"`
	NumVFs    int              `json:"enabled_vfs"`
	Offset    *int             `json:"vf_offset"`
	Stride    *int             `json:"vf_stride"`
	Autoprobe bool             `json:"drivers_autoprobe"`
	VFs       []hotplug.VFInfo `json:"vfs"`
}

// SRIOVList is sriov list's document.
func SRIOVList(pfs []hotplug.PFInfo) *SRIOVListDoc {
	doc := &SRIOVListDoc{PFs: []PF{}}
	for _, pf := range pfs {
		j := PF{BDF: pf.PF, ID: pf.ID, Driver: pf.Driver, TotalVFs: pf.TotalVFs, NumVFs: pf.NumVFs,
			Autoprobe: pf.Autoprobe, VFs: orEmpty(pf.VFs)}
		if pf.Offset != 0 {
			off, stride := pf.Offset, pf.Stride
			j.Offset, j.Stride = &off, &stride
		}
		doc.PFs = append(doc.PFs, j)
	}
	return doc
}

// SRIOVSetDoc is sriov enable's and disable's document. Durations are
// nanoseconds, as everywhere in xlpt's JSON.
type SRIOVSetDoc struct {
	Envelope
	Change       Change           `json:"change"`
	Changed      bool             `json:"changed"`
	Released     []xl.PciBdf      `json:"released"` // VFs taken off pciback before they went
	Hidden       []hotplug.Hidden `json:"hidden"`
	AutoprobeOff bool             `json:"autoprobe_off"`
	Persisted    *string          `json:"persisted"` // the host setup file written; null: not persisted
	ElapsedNs    int64            `json:"elapsed_ns"`
}

// Change is a PF's change of VF count.
type Change struct {
	PF          xl.PciBdf   `json:"pf"`
	From        int         `json:"from"`
	To          int         `json:"to"`
	ThroughZero bool        `json:"through_zero"`
	WaitedNs    int64       `json:"waited_ns"`
	VFs         []xl.PciBdf `json:"vfs"`
}

// SRIOVSet is sriov enable's and disable's document: res, which took
// took.
func SRIOVSet(res hotplug.SRIOVResult, took time.Duration) *SRIOVSetDoc {
	ch := res.Change
	doc := &SRIOVSetDoc{Change: Change{PF: ch.PF, From: ch.From, To: ch.To, ThroughZero: ch.ThroughZero,
		WaitedNs: ch.Waited.Nanoseconds(), VFs: orEmpty(ch.VFs)},
		Changed: res.Changed, Released: orEmpty(res.Released), Hidden: orEmpty(res.Hidden), AutoprobeOff: res.AutoprobeOff,
		ElapsedNs: took.Nanoseconds()}
	if res.Persisted != "" {
		persisted := res.Persisted
		doc.Persisted = &persisted
	}
	return doc
}

// RestoreDoc is restore's document.
type RestoreDoc struct {
	Envelope
	hotplug.RestoreResult
	ElapsedNs int64 `json:"elapsed_ns"`
}

// Restore is restore's document: res, which took took.
func Restore(res hotplug.RestoreResult, took time.Duration) *RestoreDoc {
	res.Items = orEmpty(res.Items)
	return &RestoreDoc{RestoreResult: res, ElapsedNs: took.Nanoseconds()}
}

// RecoverDoc is recover's document.
type RecoverDoc struct {
	Envelope
	Records []string `json:"records"` // the intent records found
	Repairs []Repair `json:"repairs"`
	DryRun  bool     `json:"dry_run"`
}

// Repair is one device's repair with its outcome in one word.
type Repair struct {
	hotplug.Repair
	Outcome string `json:"outcome"` // consistent, left_alone, planned, repaired, failed
}

// Recover is recover's document.
func Recover(rep hotplug.RecoverReport) *RecoverDoc {
	doc := &RecoverDoc{Records: orEmpty(rep.Records), Repairs: []Repair{}, DryRun: rep.DryRun}
	for _, r := range rep.Repairs {
		doc.Repairs = append(doc.Repairs, Repair{r, r.Outcome(rep.DryRun)})
	}
	return doc
}

// PlanDoc is the document of the migrate commands and pci-move.
type PlanDoc struct {
	Envelope
	Plan *hotplug.Plan `json:"plan"`
}

// Plan is the migrate commands' and pci-move's document.
func Plan(p *hotplug.Plan) *PlanDoc { return &PlanDoc{Plan: p} }
