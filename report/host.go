package report

import (
	"errors"
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

// MigrateCheckDoc is migrate check's document: for every plan device
// the function of this host attach would give it, and every problem.
type MigrateCheckDoc struct {
	Envelope
	PlanFile   string                `json:"plan_file"`
	Domain     string                `json:"domain"`
	SourceHost string                `json:"source_host"`
	Host       string                `json:"host"` // this host, where the check ran
	Phase      hotplug.Phase         `json:"phase"`
	GuestType  *string               `json:"guest_type"` // null: unknown (an older plan without devices)
	Devices    []MigrateCheckDevice  `json:"devices"`
	Problems   []MigrateCheckProblem `json:"problems"`
	Verdict    string                `json:"verdict"` // ready, refused
}

// MigrateCheckDevice is one plan device and its function here.
type MigrateCheckDevice struct {
	BDF       string  `json:"bdf"` // the plan's
	GuestSlot string  `json:"guest_slot"`
	TargetBDF *string `json:"target_bdf"` // null: none found
	How       *string `json:"how"`        // map, same_bdf, identity; null: none found
	Owner     *string `json:"owner"`      // of the target, as check's; null: none found
	OwnerText *string `json:"owner_text"`
	Assign    bool    `json:"assign"` // attach makes the target assignable first (--assign)
}

// MigrateCheckProblem is one reason attach would be refused here.
type MigrateCheckProblem struct {
	Device     *string  `json:"device"` // the plan's BDF; null: the guest's (this host's Xen)
	Kind       string   `json:"kind"`
	Message    string   `json:"message"`
	Candidates []string `json:"candidates"` // an ambiguous match's candidates, else []
}

// MigrateCheck is migrate check's document of res, whose plan is the
// file planFile (res.Plan must be set).
func MigrateCheck(res hotplug.MigrateCheck, planFile string) *MigrateCheckDoc {
	p := res.Plan
	doc := &MigrateCheckDoc{PlanFile: planFile, Domain: p.Domain, SourceHost: p.SourceHost, Host: res.Host, Phase: p.Phase,
		Devices: []MigrateCheckDevice{}, Problems: []MigrateCheckProblem{}, Verdict: "ready"}
	if res.GuestType != "" {
		doc.GuestType = &res.GuestType
	}
	for _, t := range res.Targets {
		d := MigrateCheckDevice{BDF: t.BDF, GuestSlot: t.GuestSlot, Assign: t.Assign}
		if t.Target != "" {
			target, how, word, text := t.Target, string(t.How), t.Owner.Word(), t.Owner.String()
			d.TargetBDF, d.How, d.Owner, d.OwnerText = &target, &how, &word, &text
		}
		doc.Devices = append(doc.Devices, d)
	}
	for _, pr := range res.Problems {
		mp := MigrateCheckProblem{Kind: string(pr.Kind), Message: pr.Error(), Candidates: []string{}}
		if pr.Device != "" {
			dev := pr.Device
			mp.Device = &dev
		}
		var ae *hotplug.AmbiguousError
		if errors.As(pr, &ae) {
			for _, c := range ae.Candidates {
				mp.Candidates = append(mp.Candidates, c.String())
			}
		}
		doc.Problems = append(doc.Problems, mp)
	}
	if len(doc.Problems) > 0 {
		doc.Verdict = "refused"
	}
	return doc
}
