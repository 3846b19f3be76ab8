package hotplug

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Restore outcomes, one per entry.
const (
	RestoreApplied    = "applied"
	RestoreAlready    = "already"
	RestoreRefused    = "refused"
	RestoreFailed     = "failed"
	RestoreWouldApply = "would_apply" // --dry-run
)

// RestoreItem is the outcome of one entry.
type RestoreItem struct {
	Entry   string    `json:"entry"` // the line, in canonical form
	Kind    string    `json:"kind"`
	BDF     xl.PciBdf `json:"bdf"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail"`
}

// RestoreResult is the whole restore.
type RestoreResult struct {
	File   string        `json:"file"`
	DryRun bool          `json:"dry_run"`
	Items  []RestoreItem `json:"items"`
	// NoSetup: File does not exist (nothing was ever persisted), as
	// against a host setup with no entries.
	NoSetup bool `json:"-"`
	// Skipped says which lines of File were skipped as unreadable (for
	// the caller to print as warnings): the other entries are applied,
	// and the restore is not OK.
	Skipped []string `json:"-"`
}

// OK reports that no entry was refused or failed, and no line skipped.
func (r RestoreResult) OK() bool {
	if len(r.Skipped) > 0 {
		return false
	}
	for _, it := range r.Items {
		if it.Outcome == RestoreRefused || it.Outcome == RestoreFailed {
			return false
		}
	}
	return true
}

// Restore applies the host-setup file idempotently: sriov entries first
// (the VFs must exist before they are hidden), then assignable entries,
// each only after checking that the device at the BDF is still the one
// recorded. Each entry is applied, already so, or refused with the
// reason; one entry's refusal does not stop the others. With dryRun
// nothing is changed and the plan is reported.
func (s *Service) Restore(dryRun bool) (RestoreResult, error) {
	p, res, err := s.restoreSetup(dryRun)
	if err != nil || len(p.Entries) == 0 {
		return res, err
	}
	if _, err := s.sysfsOnly(); err != nil {
		return res, err
	}
	if dryRun {
		return s.restore(p, res), nil
	}
	// The whole restore under the host lock, journaled, the file read
	// again under it: each entry's change is an operation of its own,
	// and recovery of a restore that died runs it again (every entry is
	// idempotent).
	unlock, err := s.lockAndRecover()
	if err != nil {
		return res, err
	}
	defer unlock()
	if p, res, err = s.restoreSetup(dryRun); err != nil || len(p.Entries) == 0 {
		return res, err
	}
	if err := s.readHost(); err != nil {
		return res, err
	}
	rec := &Record{Op: OpRestore, Dir: s.configDir}
	if err := s.journal.Begin(rec); err != nil {
		return res, err
	}
	res = s.restore(p, res)
	return res, s.journal.End(rec)
}

// restoreSetup reads the host setup for restore: a line that cannot be
// read is skipped with a warning (one bad line must not keep every other
// device of the host from its setup at boot).
func (s *Service) restoreSetup(dryRun bool) (*PersistFile, RestoreResult, error) {
	p, skipped, err := LoadPersistLenient(s.configDir)
	if err != nil {
		return p, RestoreResult{}, &setupError{err}
	}
	res := RestoreResult{File: p.Path, DryRun: dryRun, Items: []RestoreItem{}}
	for _, e := range skipped {
		res.Skipped = append(res.Skipped, fmt.Sprintf("skipped %v; fix or remove the line", e))
	}
	if len(p.Entries) == 0 && len(skipped) == 0 {
		_, err := os.Stat(p.Path)
		res.NoSetup = errors.Is(err, fs.ErrNotExist)
	}
	return p, res, nil
}

// restore applies the entries of p.
func (s *Service) restore(p *PersistFile, res RestoreResult) RestoreResult {
	dryRun := res.DryRun
	entries := p.sorted()
	planned := map[xl.PciBdf]bool{} // PFs whose VFs a dry run would create
	i := 0
	for ; i < len(entries) && entries[i].Kind == PersistSRIOV; i++ {
		if sig := s.interruptedBy(); sig != nil {
			res.Items = append(res.Items, item(entries[i], RestoreFailed, fmt.Sprintf("not applied: the restore was interrupted by %v", sig)))
			continue
		}
		it := s.restoreSRIOV(entries[i], dryRun)
		if it.Outcome == RestoreWouldApply {
			planned[entries[i].BDF] = true
		}
		res.Items = append(res.Items, it)
	}
	if i < len(entries) {
		var want []xl.PciBdf
		for _, e := range entries[i:] {
			want = append(want, e.BDF)
		}
		host, err := s.sysfs.Read(want...)
		if err != nil {
			for _, e := range entries[i:] {
				res.Items = append(res.Items, item(e, RestoreFailed, hostReadErr(err).Error()))
			}
			return res
		}
		sub := *s
		sub.host = host
		for _, e := range entries[i:] {
			if sig := s.interruptedBy(); sig != nil {
				res.Items = append(res.Items, item(e, RestoreFailed, fmt.Sprintf("not applied: the restore was interrupted by %v", sig)))
				continue
			}
			it := sub.restoreAssignable(e, host, dryRun, planned)
			res.Items = append(res.Items, it)
		}
	}
	return res
}

func item(e PersistEntry, outcome, detail string) RestoreItem {
	return RestoreItem{Entry: e.String(), Kind: e.Kind, BDF: e.BDF, Outcome: outcome, Detail: detail}
}

// checkIdentity refuses an entry whose device is gone or is another one.
func checkIdentity(e PersistEntry, ids *pcibind.Sysfs) (string, bool) {
	id, err := ids.Identity(e.BDF)
	if errors.Is(err, pcibind.ErrDeviceGone) {
		why := fmt.Sprintf("no device at %s now", e.BDF)
		if e.PF != nil {
			why += fmt.Sprintf(" (VF %d of %s: are its VFs enabled? an sriov line for %s does that)", e.VFIndex, e.PF, e.PF)
		}
		return why, false
	}
	if err != nil {
		return err.Error(), false
	}
	if id.Vendor != e.Vendor || id.Device != e.Device {
		return fmt.Sprintf("%s is %s now, not the recorded %s: the hardware changed; "+
			"check the device and fix or remove the line", e.BDF, id.ID(), e.ID()), false
	}
	switch {
	case e.Kind == PersistSRIOV || (e.PF == nil && id.PF == nil):
	case e.PF == nil:
		return fmt.Sprintf("%s is now VF %d of %s, recorded as a device of its own: the VF layout changed", e.BDF, id.VFIndex, id.PF), false
	case id.PF == nil:
		return fmt.Sprintf("%s is no VF now, recorded as VF %d of %s", e.BDF, e.VFIndex, e.PF), false
	case *id.PF != *e.PF || id.VFIndex != e.VFIndex:
		return fmt.Sprintf("%s is VF %d of %s now, recorded as VF %d of %s: the VF layout changed", e.BDF, id.VFIndex, id.PF, e.VFIndex, e.PF), false
	}
	return "", true
}

func (s *Service) restoreSRIOV(e PersistEntry, dryRun bool) RestoreItem {
	if why, ok := checkIdentity(e, s.sysfs); !ok {
		return item(e, RestoreRefused, why)
	}
	st, err := s.sysfs.SRIOVState(e.BDF)
	if err != nil {
		return item(e, RestoreRefused, err.Error())
	}
	apOK := e.Autoprobe == nil || *e.Autoprobe == st.Autoprobe
	if st.NumVFs == e.VFs && apOK {
		return item(e, RestoreAlready, fmt.Sprintf("%d VFs enabled", st.NumVFs))
	}
	var plan []string
	if !apOK {
		plan = append(plan, fmt.Sprintf("sriov_drivers_autoprobe=%d", b2i(*e.Autoprobe)))
	}
	if st.NumVFs != e.VFs {
		p := fmt.Sprintf("sriov_numvfs %d -> %d", st.NumVFs, e.VFs)
		if st.NumVFs != 0 {
			p += " (through 0)"
		}
		plan = append(plan, p)
	}
	if dryRun {
		return item(e, RestoreWouldApply, strings.Join(plan, "; "))
	}
	// autoprobe first: it decides who probes the VFs about to appear.
	if !apOK {
		if err := s.sysfs.SetAutoprobe(e.BDF, *e.Autoprobe); err != nil {
			return item(e, RestoreFailed, err.Error())
		}
	}
	r, err := s.setVFsJournaled(SRIOVRequest{PF: e.BDF, NumVFs: e.VFs})
	switch {
	case errors.Is(err, ErrVFsAssigned), errors.Is(err, ErrPFHidden), errors.Is(err, pcibind.ErrVFCount):
		return item(e, RestoreRefused, err.Error())
	case err != nil:
		return item(e, RestoreFailed, err.Error())
	}
	detail := strings.Join(plan, "; ")
	if r.Changed {
		detail += fmt.Sprintf("; VFs %s appeared in %.2fs", xl.JoinBdfs(r.Change.VFs), r.Change.Waited.Seconds())
	}
	return item(e, RestoreApplied, detail)
}

func (s *Service) restoreAssignable(e PersistEntry, host *pcibind.Host, dryRun bool, planned map[xl.PciBdf]bool) RestoreItem {
	if dryRun && e.PF != nil && planned[*e.PF] {
		return item(e, RestoreWouldApply, fmt.Sprintf("hide with %s once the sriov line has created VF %d of %s", e.driverOr(), e.VFIndex, e.PF))
	}
	if why, ok := checkIdentity(e, s.sysfs); !ok {
		return item(e, RestoreRefused, why)
	}
	d, ok := host.Device(e.BDF)
	if !ok {
		return item(e, RestoreRefused, fmt.Sprintf("no device at %s now", e.BDF))
	}
	drv := e.driverOr()
	if d.Driver == drv || (drv == pcibind.DriverPciback && d.Driver == "xen-pciback") {
		return item(e, RestoreAlready, "on "+d.Driver)
	}
	from := OrNone(d.Driver)
	if e.Original != "" && e.Original != d.Driver {
		from += fmt.Sprintf(" (recorded on %s)", e.Original)
	}
	how := drv
	if drv == pcibind.DriverPciback && s.ts != nil {
		how = "pciback through libxl"
	}
	if dryRun {
		return item(e, RestoreWouldApply, fmt.Sprintf("hide from %s with %s", from, how))
	}
	r, err := s.assignableAddLocked(AssignableRequest{Device: e.BDF, Name: e.Name, Driver: drv}, nil)
	switch {
	case errors.Is(err, ErrNeedsForce), errors.Is(err, ErrAssignedElsewhere):
		return item(e, RestoreRefused, err.Error())
	case err != nil:
		return item(e, RestoreFailed, err.Error())
	}
	it := item(e, RestoreApplied, fmt.Sprintf("hidden from %s with %s", from, how))
	if len(r.Warnings) > 0 {
		it.Detail += "; " + strings.Join(r.Warnings, "; ")
	}
	return it
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
