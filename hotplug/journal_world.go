package hotplug

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xlpt/xlpt/xl"
)

// The world a record belongs to: the boot, the run and the guest. A
// record is acted on only in its own world; recovery reports one of
// another world and sets it aside (issue 25).

// ErrRunning refuses a change while a live run's record is open: its run
// still changes the host, although the host lock was free.
var ErrRunning = errors.New("another xlpt run is still changing the host")

// BootID is the kernel's id of this boot under procRoot
// (sys/kernel/random/boot_id), "" when there is none to read.
func BootID(procRoot string) string {
	if procRoot == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id"))
	if err != nil || len(b) > 64 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootTime is when this boot began (the btime line of procRoot/stat).
func bootTime(procRoot string) (time.Time, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return time.Time{}, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil && secs > 0 {
				return time.Unix(secs, 0), true
			}
		}
	}
	return time.Time{}, false
}

// procRoot is where /proc is for the service ("" when it has no sysfs).
func (s *Service) procRoot() string {
	if s.sysfs == nil {
		return ""
	}
	return s.sysfs.ProcRoot()
}

// otherBoot says why rec was written in another boot than this one ("":
// this boot, or no way to tell): its boot id, or for a record without
// one (an older xlpt's) a time before this boot began.
func (s *Service) otherBoot(rec *Record) string {
	proc := s.procRoot()
	now := BootID(proc)
	if rec.BootID != "" && now != "" {
		if rec.BootID != now {
			return fmt.Sprintf("it was written before the last reboot (boot %s; this boot is %s)", rec.BootID, now)
		}
		return ""
	}
	if rec.BootID == "" && proc != "" {
		if bt, ok := bootTime(proc); ok && rec.Time.Before(bt) {
			return fmt.Sprintf("it was written at %s, before this boot began (%s)", rec.Time.UTC().Format(time.RFC3339), bt.UTC().Format(time.RFC3339))
		}
	}
	return ""
}

// liveRun says whether the run that wrote rec still runs: another
// process with its pid running the command line it recorded (a pid
// reused by another program is no live run).
func (s *Service) liveRun(rec *Record) bool {
	proc := s.procRoot()
	if proc == "" || rec.PID <= 0 || rec.PID == os.Getpid() {
		return false
	}
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(rec.PID), "cmdline"))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	return string(bytes.Join(args, []byte(" "))) == rec.Cmdline
}

// uuidString is a domain's UUID for a record, "" for the nil UUID (no
// UUID known).
func uuidString(info xl.DomainInfo) string {
	if info.UUID == ([16]byte{}) {
		return ""
	}
	return info.UUIDString()
}

// otherGuest says why the guest rec names is not the domain that has its
// domid now ("": the same guest, or gone, or no way to tell): another
// name or another UUID under the same domid.
func (t *truth) otherGuest(rec *Record) string {
	if rec.Op != OpAttach && rec.Op != OpDetach {
		return ""
	}
	name, ok := t.names[rec.Domid]
	if !ok {
		return ""
	}
	switch {
	case rec.DomName != "" && name != rec.DomName:
		return fmt.Sprintf("it names %s (domain %d), but domain %d is %s now: that guest is gone", rec.DomName, rec.Domid, rec.Domid, name)
	case rec.DomUUID != "" && t.uuids[rec.Domid] != "" && t.uuids[rec.Domid] != rec.DomUUID:
		return fmt.Sprintf("it names %s (domain %d, UUID %s), but domain %d is %s with UUID %s now: another guest of that name",
			rec.domain(), rec.Domid, rec.DomUUID, rec.Domid, name, t.uuids[rec.Domid])
	}
	return ""
}

// setAside reports a record that is not acted on, and moves it out of
// every run's way (not when dry), so that it blocks nothing.
func (r *recovery) setAside(path string, devs []xl.PciBdf, problem string) error {
	action := "left alone: would move it aside to " + r.s.journal.Aside(path)
	if !r.dry {
		to, err := r.s.journal.SetAside(path)
		if err != nil {
			return err
		}
		action = "left alone: moved it aside to " + to + "; check its devices by hand (`xlpt check`) and run the command again if it is still wanted"
	}
	if len(devs) == 0 {
		devs = []xl.PciBdf{{}}
	}
	for _, b := range devs {
		r.note(b, problem, action)
	}
	return nil
}

// recordDevices are the devices a record names.
func recordDevices(rec *Record) []xl.PciBdf {
	var bs []xl.PciBdf
	for _, in := range rec.Devices {
		bs = append(bs, in.BDF)
	}
	if len(bs) == 0 && rec.SRIOV != nil {
		bs = append(bs, rec.SRIOV.PF)
	}
	return bs
}
