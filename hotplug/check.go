package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xlpt/xlpt/internal/prefault"
	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// CheckRequest is `xlpt check`: the devices to judge (none: every device
// of the host).
type CheckRequest struct {
	Devices []xl.PciBdf
	NoLibxl bool // owners from sysfs alone, libxl not asked
	// Verdicts keeps only the devices with these verdicts (each as
	// ParseVerdict reads it); nil keeps every device.
	Verdicts []string
}

// CheckReport is check's verdict on each device, with what it rests on.
type CheckReport struct {
	// Hypervisor is whether owners came from libxl.
	Hypervisor bool           `json:"hypervisor"`
	InUseError string         `json:"in_use_error,omitempty"`
	Summary    CheckSummary   `json:"summary"`
	Devices    []DeviceReport `json:"devices"`
	Missing    int            `json:"-"` // named devices that are not there
	Warnings   []string       `json:"-"` // for the operator, not the report
}

// check's verdicts beyond the readiness ones (ready, needs_hiding,
// caution, refused), one word each, with the prose in Message: a named
// device that is not there, a device in a state no finished operation
// leaves (or with the intent record of a run that died), a device that
// a live run is changing now.
const (
	VerdictMissing      = "missing"
	VerdictInconsistent = "inconsistent"
	VerdictBusy         = "busy"
)

// CheckVerdicts are every verdict check gives, in the order a summary
// lists them.
var CheckVerdicts = []string{"ready", "needs_hiding", "caution", "refused", VerdictInconsistent, VerdictBusy, VerdictMissing}

// ParseVerdict reads a verdict as a person may write it ("needs hiding",
// "needs-hiding" or "needs_hiding"); one check does not give is a bad
// request.
func ParseVerdict(v string) (string, error) {
	w := snakeCase(strings.ReplaceAll(strings.TrimSpace(v), " ", "_"))
	for _, k := range CheckVerdicts {
		if k == w {
			return w, nil
		}
	}
	return "", badRequestf("%q is not a verdict (%s)", w, strings.Join(CheckVerdicts, ", "))
}

// snakeCase is an enumerated word as xlpt's JSON spells it (root_port).
func snakeCase(s string) string { return strings.ReplaceAll(s, "-", "_") }

// CheckSummary counts the devices reported.
type CheckSummary struct {
	Devices   int            `json:"devices"`
	ByVerdict map[string]int `json:"by_verdict"`
	ByOwner   map[string]int `json:"by_owner"` // missing devices have none
	ByKind    map[string]int `json:"by_kind"`  // ClassKind of the class; missing devices have none
}

// Summarize counts devs by verdict, owner and kind.
func Summarize(devs []DeviceReport) CheckSummary {
	s := CheckSummary{Devices: len(devs), ByVerdict: map[string]int{}, ByOwner: map[string]int{}, ByKind: map[string]int{}}
	for i := range devs {
		d := &devs[i]
		s.ByVerdict[d.Verdict]++
		if d.Present {
			s.ByOwner[d.Owner]++
			s.ByKind[ClassKind(d.Class)]++
		}
	}
	return s
}

// classKinds names the PCI base classes (PCI Code and ID Assignment
// Specification, 1.x) in one word each.
var classKinds = map[uint64]string{0x00: "unclassified", 0x01: "storage", 0x02: "network", 0x03: "display",
	0x04: "multimedia", 0x05: "memory", 0x06: "bridge", 0x07: "communication", 0x08: "system",
	0x09: "input", 0x0a: "docking", 0x0b: "processor", 0x0c: "serial_bus", 0x0d: "wireless",
	0x0e: "intelligent_io", 0x0f: "satellite", 0x10: "encryption", 0x11: "signal_processing",
	0x12: "accelerator", 0x13: "instrumentation", 0x40: "coprocessor"}

// ClassKind is the kind of a device by its class (hex, as check shows
// it): its base class in one word, "other" for the rest.
func ClassKind(class string) string {
	c, err := strconv.ParseUint(class, 16, 32)
	if err != nil || class == "" {
		return "other"
	}
	if k, ok := classKinds[c>>16]; ok {
		return k
	}
	return "other"
}

// OpenOperation is an intent record still open for a device.
type OpenOperation struct {
	Op      string `json:"op"` // hide, give, attach, detach, ...
	PID     int    `json:"pid"`
	Time    string `json:"time"`    // RFC 3339, UTC: when it began
	Running bool   `json:"running"` // the pid is alive: a run is at work now
	Command string `json:"command"` // its command line
	Text    string `json:"text"`    // the operation in words
}

// SRIOVRole is a device's part in SR-IOV.
type SRIOVRole struct {
	Role  string     `json:"role"` // pf or vf
	Total int        `json:"total_vfs,omitempty"`
	Num   int        `json:"num_vfs,omitempty"`
	PF    *xl.PciBdf `json:"pf,omitempty"`
}

// DeviceReport is one device in check's report.
type DeviceReport struct {
	BDF            xl.PciBdf   `json:"bdf"`
	Present        bool        `json:"present"`
	Vendor         string      `json:"vendor,omitempty"` // hex
	Device         string      `json:"device,omitempty"`
	Class          string      `json:"class,omitempty"`
	Name           string      `json:"name,omitempty"`
	Driver         string      `json:"driver"` // "": none
	Owner          string      `json:"owner"`  // Owner.Word: dom0_driver, none, assignable, domain
	OwnerText      string      `json:"owner_text"`
	OriginalDriver string      `json:"original_driver,omitempty"`
	Bus            nullString  `json:"bus"`                 // pcie, conventional, null unknown
	PortType       string      `json:"port_type,omitempty"` // snake_case
	Bridge         string      `json:"bridge,omitempty"`    // snake_case
	Group          []xl.PciBdf `json:"group,omitempty"`
	GroupBridge    *xl.PciBdf  `json:"group_bridge,omitempty"`
	ResetMethods   []string    `json:"reset_methods"`
	FLR            bool        `json:"flr"`
	MSI            bool        `json:"msi"`
	MSIX           bool        `json:"msix"`
	SRIOV          *SRIOVRole  `json:"sriov,omitempty"`
	NUMANode       numaNode    `json:"numa_node"` // null: none (-1 in sysfs)
	Unread         []string    `json:"unread,omitempty"`
	// OpenOperation is an intent record still open for the device.
	OpenOperation *OpenOperation `json:"open_operation,omitempty"`
	Verdict       string         `json:"verdict"` // one of CheckVerdicts
	Message       string         `json:"message"`
	Reasons       []string       `json:"reasons"`
	// sysfsName is the BDF of a function outside xl.PciBdf's range
	// (segment above ffff); it is shown instead of BDF.
	sysfsName string
}

// SysfsName is the name of a function xl.PciBdf cannot hold (a segment
// above ffff), "" for every other.
func (d DeviceReport) SysfsName() string { return d.sysfsName }

// nullString is a string that is null in JSON when empty: unknown.
type nullString string

func (s nullString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// numaNode is sysfs's numa_node, null in JSON for none (-1).
type numaNode int

func (n numaNode) MarshalJSON() ([]byte, error) {
	if n < 0 {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(n), 10), nil
}

// missingDevice is a named device that is not there: everything but its
// address and verdict is unknown, so null.
type missingDevice struct {
	BDF          xl.PciBdf `json:"bdf"`
	Present      bool      `json:"present"`
	Driver       *string   `json:"driver"`
	Owner        *string   `json:"owner"`
	OwnerText    *string   `json:"owner_text"`
	Bus          *string   `json:"bus"`
	ResetMethods []string  `json:"reset_methods"`
	FLR          *bool     `json:"flr"`
	MSI          *bool     `json:"msi"`
	MSIX         *bool     `json:"msix"`
	NUMANode     *int      `json:"numa_node"`
	Verdict      string    `json:"verdict"`
	Message      string    `json:"message"`
	Reasons      []string  `json:"reasons"`
}

// MarshalJSON shows a function of a segment above ffff by its sysfs name,
// and a missing device with its unknowns null.
func (d DeviceReport) MarshalJSON() ([]byte, error) {
	type plain DeviceReport
	switch {
	case !d.Present && d.sysfsName == "":
		return json.Marshal(missingDevice{BDF: d.BDF, Verdict: d.Verdict, Message: d.Message, Reasons: d.Reasons})
	case d.sysfsName == "":
		return json.Marshal(plain(d))
	}
	return json.Marshal(struct {
		BDF string `json:"bdf"`
		plain
	}{d.sysfsName, plain(d)})
}

// Check judges the devices asked about (every device without any): for
// each its driver and owner, bus, same-domain group, reset, interrupts,
// SR-IOV role, and the readiness verdict pci-assignable-add enforces. A
// device in a state no finished operation leaves, or with an intent
// record still open, is marked so above any other verdict, with the
// repair. The summary counts the devices kept (req.Verdicts). It reads
// only.
func (s *Service) Check(req CheckRequest) (CheckReport, error) {
	var keep map[string]bool
	for _, v := range req.Verdicts {
		w, err := ParseVerdict(v)
		if err != nil {
			return CheckReport{}, err
		}
		if keep == nil {
			keep = map[string]bool{}
		}
		keep[w] = true
	}
	var err error
	if len(req.Devices) == 0 {
		err = s.scanHost()
	} else {
		err = s.readHost(req.Devices...)
	}
	if err != nil {
		return CheckReport{}, err
	}
	var ow *checkOwners
	var bad []Repair
	var warnings []string
	if !req.NoLibxl {
		s.openToolstack() // owners come from libxl, or from sysfs without it
		ow, bad, warnings = s.checkOwners()
	}
	uses, useErr := s.sysfs.InUse()
	if useErr != nil {
		warnings = append(warnings, UseWarning(useErr))
	}
	start := time.Now()
	rep := s.checkHost(req.Devices, ow, uses, useErr)
	rep.markInconsistent(bad)
	if s.journal != nil {
		if recs, bad, err := s.journal.Open(); err != nil {
			warnings = append(warnings, fmt.Sprintf("cannot read the intent records of runs that died: %v", err))
		} else {
			for _, u := range bad {
				warnings = append(warnings, fmt.Sprintf("the intent record %s cannot be acted on (%v): the next change or `xlpt recover` moves it aside", u.Path, u.Err))
			}
			procRoot := s.sysfs.ProcRoot()
			rep.markOpenRecords(recs, func(pid int) bool { return pidAlive(procRoot, pid) })
		}
	}
	rep.filter(keep)
	rep.Summary = Summarize(rep.Devices)
	timing.Log(s.log(), "rules", start)
	if ow != nil && ow.err != nil {
		warnings = append(warnings, fmt.Sprintf("cannot ask libxl which domain holds which device: %v", ow.err))
	}
	rep.Warnings = warnings
	return rep, nil
}

// checkOwners asks libxl which domain holds which device, only about
// devices on pciback and each list once, and which devices are in a
// state no finished operation leaves; outside a dom0 (no hypervisor, no
// libxl, not root) it returns nil and check reports owners from sysfs
// alone.
func (s *Service) checkOwners() (*checkOwners, []Repair, []string) {
	if s.ts == nil {
		s.log().WithError(s.tsErr).Info("check: no libxl; domain assignments unknown")
		return nil, nil, nil
	}
	var warnings []string
	bad, err := s.Inconsistencies()
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("cannot compare libxl's, QEMU's and Xen's views of the devices: %v", err))
	}
	return &checkOwners{of: Owners(s.ts, s.host)}, bad, warnings
}

// checkOwners reports a device libxl could not be asked about as
// pciback's (only devices on pciback need libxl), keeping the first
// error for one warning. Safe for concurrent use.
type checkOwners struct {
	mu  sync.Mutex
	of  func(xl.PciBdf) (Owner, error)
	err error
}

func (c *checkOwners) owner(b xl.PciBdf) Owner {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, err := c.of(b)
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return Owner{Kind: OwnedByPciback}
	}
	return o
}

// UseWarning is the warning of a run that could not read what dom0
// uses, with the fix where there is one.
func UseWarning(err error) string {
	if errors.Is(err, pcibind.ErrNoProc) {
		return err.Error() + ": record /proc beside the tree (scripts/capture-sysfs does), or give --proc-root DIR"
	}
	return err.Error()
}

// markInconsistent puts a device whose state no finished operation leaves
// (a pci-attach or pci-assignable-add that died) above every other
// verdict, with the command that repairs it.
func (r *CheckReport) markInconsistent(bad []Repair) {
	for _, f := range bad {
		for i := range r.Devices {
			d := &r.Devices[i]
			if d.BDF == f.Device && d.Verdict != VerdictInconsistent {
				d.setVerdict(VerdictInconsistent, fmt.Sprintf("%s; repair: xlpt recover (it would %s)",
					f.Problem, strings.TrimPrefix(f.Action, "would ")))
			}
		}
	}
}

// markOpenRecords names on each device an intent record that is still
// open for it: a run changing it now (busy), or one that died
// (inconsistent, whatever sysfs shows: after a pci-assignable-add killed
// before libxl's unbind the device looks merely "needs hiding"). alive
// says whether a pid runs.
func (r *CheckReport) markOpenRecords(recs []*Record, alive func(pid int) bool) {
	for _, rec := range recs {
		op := &OpenOperation{Op: string(rec.Op), PID: rec.PID, Time: rec.Time.UTC().Format(time.RFC3339),
			Running: alive(rec.PID), Command: rec.Cmdline, Text: rec.String()}
		for _, in := range rec.Devices {
			for i := range r.Devices {
				d := &r.Devices[i]
				if d.BDF != in.BDF || !d.Present {
					continue
				}
				d.OpenOperation = op
				if op.Running {
					d.setVerdict(VerdictBusy, fmt.Sprintf("being changed now by pid %d: %s", rec.PID, rec))
				} else if d.Verdict != VerdictInconsistent {
					d.setVerdict(VerdictInconsistent, fmt.Sprintf("an interrupted run left its intent record: %s, and pid %d is gone; "+
						"repair: xlpt recover (or run the same command again)", rec, rec.PID))
				}
			}
		}
	}
}

// setVerdict replaces a device's verdict, its message first among the
// reasons.
func (d *DeviceReport) setVerdict(verdict, msg string) {
	d.Verdict, d.Message = verdict, msg
	d.Reasons = append([]string{msg}, d.Reasons...)
}

// filter keeps the devices whose verdict is in keep (all when nil).
func (r *CheckReport) filter(keep map[string]bool) {
	if keep == nil {
		return
	}
	out := r.Devices[:0]
	for _, d := range r.Devices {
		if keep[d.Verdict] {
			out = append(out, d)
		}
	}
	r.Devices = out
}

// pidAlive says whether a process runs, by its directory under procRoot.
func pidAlive(procRoot string, pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}

// checkHost builds the report; ow may be nil (no hypervisor).
func (s *Service) checkHost(want []xl.PciBdf, ow *checkOwners, uses []pcibind.Use, useErr error) CheckReport {
	host := s.host
	rep := CheckReport{Hypervisor: ow != nil, Devices: []DeviceReport{}}
	if useErr != nil {
		rep.InUseError = useErr.Error()
	}
	explicit := len(want) > 0
	if !explicit {
		rep.Devices = s.checkAll(ow, uses, useErr)
	}
	for _, b := range want {
		d, ok := host.Device(b)
		if !ok {
			if explicit && b.Func == 0 || explicit && !slotExpanded(want, b) {
				rep.Devices = append(rep.Devices, DeviceReport{BDF: b, Verdict: VerdictMissing, Message: "no such device",
					Reasons: []string{"no such device"}})
				rep.Missing++
			}
			continue
		}
		rep.Devices = append(rep.Devices, s.checkOne(d, ow, uses, useErr))
	}
	if !explicit {
		for _, name := range host.OutOfRange {
			msg := fmt.Sprintf("PCI segment %s is above ffff (an Intel VMD controller's devices, typically): Xen and libxl address segments in 16 bits, so it cannot be passed through; pass the VMD controller itself, or turn VMD off in the firmware",
				strings.SplitN(name, ":", 2)[0])
			rep.Devices = append(rep.Devices, DeviceReport{sysfsName: name, Present: true, Verdict: string(VerdictRefused),
				Owner: "none", OwnerText: "not addressable by Xen", NUMANode: -1, Message: msg, Reasons: []string{msg}, ResetMethods: []string{}})
		}
	}
	return rep
}

// slotExpanded tells a function that BB:DD.* asked for (absent ones are
// skipped) from one named on its own (absent is an error).
func slotExpanded(want []xl.PciBdf, b xl.PciBdf) bool {
	n := 0
	for _, w := range want {
		if w.Slot() == b.Slot() {
			n++
		}
	}
	return n == 8
}

func (s *Service) checkOne(d *pcibind.Device, ow *checkOwners, uses []pcibind.Use, useErr error) DeviceReport {
	host := s.host
	vendor, device, class := checkIDs(d)
	cd := DeviceReport{
		BDF: d.BDF, Present: true, Driver: d.Driver, NUMANode: numaNode(d.NUMANode),
		Vendor: vendor, Device: device, Class: class, Name: checkName(d),
		ResetMethods: d.ResetMethods, FLR: d.HasFLR(), MSI: d.Caps.MSI, MSIX: d.Caps.MSIX,
		Unread: d.Unread, Reasons: []string{},
	}
	if cd.ResetMethods == nil {
		cd.ResetMethods = []string{}
	}
	switch {
	case d.IsPCIe():
		cd.Bus = "pcie"
		cd.PortType = snakeCase(d.Caps.PCIe.Type.String())
	case d.IsConventional():
		cd.Bus = "conventional"
	}
	if k := d.BridgeKind(); k != pcibind.NotBridge {
		cd.Bridge = snakeCase(k.String())
	}
	cd.Group = host.Group(d.BDF)
	if top, ok := host.GroupBridge(d.BDF); ok {
		cd.GroupBridge = &top
	}
	switch {
	case d.IsVF():
		cd.SRIOV = &SRIOVRole{Role: "vf", PF: d.PhysFn}
	case d.IsPF():
		cd.SRIOV = &SRIOVRole{Role: "pf", Total: d.TotalVFs, Num: d.NumVFs}
	}

	// Owner: libxl knows domains; sysfs knows dom0 and the stubs.
	onStub := pcibind.IsStub(d.Driver)
	var owner Owner
	switch {
	case ow != nil:
		owner = ow.owner(d.BDF)
		cd.Owner, cd.OwnerText = owner.Word(), owner.String()
		if owner.Kind == OwnedByPciback {
			cd.OwnerText = "assignable (pciback; quarantined by Xen)"
		}
	case onStub:
		cd.Owner, cd.OwnerText = "assignable", d.Driver+", assignable (no hypervisor: domain assignment unknown)"
	case d.Driver == "":
		cd.Owner, cd.OwnerText = "none", "dom0 (no driver)"
	default:
		cd.Owner, cd.OwnerText = "dom0_driver", "dom0 driver "+d.Driver
	}
	if !onStub {
		// Only a stub holds a device xlpt recorded hiding: no file to
		// look for on every other device of a full scan.
	} else if rec, err := s.sysfs.LoadRecord(d.BDF); err == nil {
		cd.OriginalDriver = rec.Driver
	}
	r := JudgeReadiness(ReadinessInput{Device: d, Host: host, Owner: owner, Uses: uses, UseErr: useErr})
	cd.Verdict = strings.ReplaceAll(string(r.Verdict), "-", "_")
	if r.Reasons != nil {
		cd.Reasons = r.Reasons
	}
	switch {
	case r.Verdict == VerdictRefused:
		cd.Message = strings.Join(r.Refusals, "; ")
	case len(r.Reasons) > 0:
		cd.Message = strings.Join(r.Reasons, "; ")
	default:
		cd.Message = "ready for passthrough"
	}
	return cd
}

// checkIDs is vendor, device and class in hex (%04x, %04x, %06x), cut
// from one string: one allocation, not three Sprintfs, for each function
// of a full scan.
func checkIDs(d *pcibind.Device) (vendor, device, class string) {
	b := appendHex(make([]byte, 0, 14), uint64(d.Vendor), 4)
	v := len(b)
	b = appendHex(b, uint64(d.Device), 4)
	dv := len(b)
	s := string(appendHex(b, uint64(d.Class), 6))
	return s[:v], s[v:dv], s[dv:]
}

// appendHex appends v in lower-case hex, zero-padded to width digits.
func appendHex(b []byte, v uint64, width int) []byte {
	var digits [16]byte
	h := strconv.AppendUint(digits[:0], v, 16)
	for n := len(h); n < width; n++ {
		b = append(b, '0')
	}
	return append(b, h...)
}

func checkName(d *pcibind.Device) string {
	var parts [3]string
	n := 0
	if d.ClassName != "" {
		parts[n] = d.ClassName + ":"
		n++
	}
	if d.VendorName != "" {
		parts[n] = d.VendorName
		n++
	}
	if d.DeviceName != "" {
		parts[n] = d.DeviceName
		n++
	}
	return strings.Join(parts[:n], " ")
}

// checkAll judges every device of a full scan, in parallel (the scan is
// read-only by then; owners are asked one at a time).
func (s *Service) checkAll(ow *checkOwners, uses []pcibind.Use, useErr error) []DeviceReport {
	devs := s.host.Devices
	// 1.4 MB for 4,096 functions: its pages backed at once (prefault).
	out := prefault.Make[DeviceReport](len(devs))
	parallel(len(out), func(i int) {
		out[i] = s.checkOne(devs[i], ow, uses, useErr)
	})
	return out
}

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines, in chunks.
func parallel(n int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}(lo, hi)
	}
	wg.Wait()
}
