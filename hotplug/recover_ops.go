package hotplug

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/xlpt/xlpt/internal/undo"
	"github.com/xlpt/xlpt/xl"
)

// Recovery of the operations that are more than libxl's: hides and
// give-backs through sysfs, SR-IOV changes, restores, migrations, and
// the host-setup edits (--persist) at the end of any of them. Each is
// finished forward, as the command asked.

// stepSetup is the journal step of an operation's host-setup edit.
const stepSetup = "host setup recorded"

// finishSetup makes the host-setup edit of an operation recovery has
// finished.
func (r *recovery) finishSetup(rec *Record) error {
	b := xl.PciBdf{}
	switch {
	case len(rec.Devices) > 0:
		b = rec.Devices[0].BDF
	case rec.SRIOV != nil:
		b = rec.SRIOV.PF
	}
	file := filepath.Join(rec.Setup.Dir, PersistFileName)
	return r.do(b, "the operation died before its host setup was recorded", "record it in "+file, func() error {
		_, _, err := rec.Setup.apply()
		return err
	})
}

// settleStub finishes a hide or give-back through sysfs: xlpt's own
// record (pcibind's) keeps each device's original driver, so the
// operation runs again where it stopped.
func (r *recovery) settleStub(rec *Record) error {
	for _, in := range rec.Devices {
		b := in.BDF
		drv, err := r.s.sysfs.CurrentDriver(b)
		if err != nil {
			return err
		}
		switch {
		case rec.Op == OpHide && onTarget(drv, rec.Stub):
			// Hide again only tidies: the dynamic ID a pci-stub hide
			// that died after the bind left.
			if !r.dry {
				err = r.s.sysfs.Hide(b, rec.Stub, "")
			}
			r.note(b, "the hide did not finish", "none: it is on "+drv)
		case rec.Op == OpHide:
			err = r.do(b, "the hide did not finish", fmt.Sprintf("hide it with %s through sysfs (it is on %s)", rec.Stub, OrNone(drv)), func() error {
				var u undo.Stack // a recovery's step is not undone
				if err := r.s.probeOverride(b, rec.Stub, &u); err != nil {
					return err
				}
				return r.s.sysfs.Hide(b, rec.Stub, "")
			})
		default:
			own, lerr := r.s.sysfs.LoadRecord(b)
			if lerr != nil {
				r.note(b, "the give-back did not finish", "none: it is given back, on "+OrNone(drv))
				continue
			}
			err = r.do(b, "the give-back did not finish", fmt.Sprintf("give it back to %s through sysfs (it is on %s)", OrNone(own.Driver), OrNone(drv)), func() error {
				if err := r.s.sysfs.GiveBack(b); err != nil {
					return err
				}
				r.s.dropProbeOverride(b)
				return nil
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// settleSRIOV runs the sriov change again: each of its steps does only
// what is left (the VFs still on a stub released, the count set through
// 0, the VFs hidden, the setup recorded).
func (r *recovery) settleSRIOV(rec *Record) error {
	req := *rec.SRIOV
	action := fmt.Sprintf("set %d VFs again", req.NumVFs)
	if req.Assignable && req.NumVFs > 0 {
		action += " and hide them"
	}
	if req.Persist {
		action += ", and record it in the host setup"
	}
	return r.do(req.PF, "the sriov change did not finish", action, func() error {
		if err := r.s.freshHost(); err != nil {
			return err
		}
		s := *r.s
		if rec.Dir != "" {
			s.configDir = rec.Dir // the host setup the dead run was to record in
		}
		var u undo.Stack
		_, err := s.setVFsLocked(req, rec, &u)
		u.RunOnError(&err, r.s.log())
		return err
	})
}

// settleRestore runs the restore again: an entry already applied is
// "already so", one refused stays refused (for the operator), one that
// fails fails the recovery.
func (r *recovery) settleRestore(rec *Record) error {
	p, _, err := LoadPersistLenient(rec.Dir) // the restore skipped bad lines too
	if err != nil {
		return &setupError{err}
	}
	if r.dry {
		r.note(xl.PciBdf{}, "the restore of "+p.Path+" did not finish", "would restore it again")
		return nil
	}
	if err := r.s.freshHost(); err != nil {
		return err
	}
	res := r.s.restore(p, RestoreResult{File: p.Path, Items: []RestoreItem{}})
	var failed []string
	for _, it := range res.Items {
		r.note(it.BDF, "the restore of "+p.Path+" did not finish", "restored it again: "+it.Outcome+" ("+it.Detail+")")
		if it.Outcome == RestoreFailed {
			failed = append(failed, it.Entry+": "+it.Detail)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: the restore of %s, run again: %s", ErrRecovery, p.Path, strings.Join(failed, "; "))
	}
	return nil
}

// settleMigrate says what a migration or move that died left: its
// devices are consistent (their attach and detach records are settled
// on their own), and its plan says which command continues it.
func (r *recovery) settleMigrate(rec *Record) {
	action := fmt.Sprintf("left alone: the plan %s records where each device is; run the same command with it again to finish (or `xlpt migrate rollback --plan %s`)", rec.Plan, rec.Plan)
	p, err := FilePlan{Path: rec.Plan}.Load()
	if err != nil || p == nil || len(p.Devices) == 0 {
		r.note(xl.PciBdf{}, "a migration or move died", action)
		return
	}
	for _, d := range p.Devices {
		b, _, _ := xl.ParseBdf(d.BDF)
		r.note(b, fmt.Sprintf("a migration or move died with it %s", p.Where(d)), action)
	}
}
