package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/prefault"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xenlight/qmp"
	"github.com/xlpt/xlpt/xl"
)

var checkCommand = &cli.Command{
	Name:      "check",
	Usage:     "Say whether host PCI devices are ready for passthrough, and why not",
	ArgsUsage: "[BDF...]",
	Description: `For each device (all of them when no BDF is given): its driver and owner
(a dom0 driver, pciback or pci-stub, or the domain libxl gave it to when a
hypervisor is there), conventional PCI or PCIe, its same-domain group
(devices behind one PCIe-to-PCI or PCI bridge must go to one domain), reset
methods, MSI/MSI-X, SR-IOV role, and a verdict: ready, needs hiding,
caution, refused (host and PCI bridges, SR-IOV PFs with VFs, devices dom0
needs now), inconsistent (left half-done by a run that died: xlpt recover
repairs it), busy (a run is changing it now) or missing. An intent record
still open for a device is named with its operation, pid and time. Reads
only; needs root to see whole config spaces.

--oneline prints a line per device, as lspci does; --summary counts the
devices by verdict, owner and kind (class); --verdict keeps only the
devices with the verdicts given.

Examples:
   xlpt check
   xlpt check 03:00.0 03:00.1
   xlpt check --oneline --verdict needs_hiding,caution
   xlpt check --summary
   xlpt --sysfs-root capture/sys check --json   (capture/proc beside it)`,
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "no-libxl", Usage: "Do not ask libxl which domain holds which device"},
		&cli.BoolFlag{Name: "oneline", Usage: "One line per device: address, verdict, owner, driver, name"},
		&cli.BoolFlag{Name: "summary", Usage: "Count the devices by verdict, owner and kind instead of listing them"},
		&cli.StringFlag{Name: "verdict", Usage: "Keep only devices with these verdicts (`LIST`, comma-separated: " + strings.Join(verdicts, ", ") + ")"},
	},
	Action: func(c *cli.Context) error {
		keep, err := parseVerdicts(c.String("verdict"))
		if err != nil {
			return err
		}
		var want []xl.PciBdf
		for _, a := range c.Args().Slice() {
			b, all, err := xl.ParseBdf(a)
			if err != nil {
				return usageError{err}
			}
			if all {
				for f := uint8(0); f < 8; f++ {
					b.Func = f
					want = append(want, b)
				}
				continue
			}
			want = append(want, b)
		}
		e := envOf(c)
		if _, err := e.hostConfig(); err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		if n := e.pciIDsNote(); n != "" {
			o.note(n)
		}
		if len(want) == 0 {
			defer fullScanGC()()
		}
		sys := e.sysfs()
		start := time.Now()
		host, err := readHost(sys, want)
		if err != nil {
			return err
		}
		timing("host read", start)
		var ownerOf func(xl.PciBdf) hotplug.Owner
		var bad []hotplug.Repair
		if !c.Bool("no-libxl") {
			ownerOf, bad = libxlOwners(e, sys, host, o)
		}
		uses, useErr := sys.InUse()
		if useErr != nil {
			o.warn(useWarning(useErr))
		}
		start = time.Now()
		rep := checkHost(sys, host, want, ownerOf, uses, useErr)
		markInconsistent(&rep, bad)
		if recs, err := hotplug.NewJournal(e.StateDir).Pending(); err != nil {
			o.warn(fmt.Sprintf("cannot read the intent records of runs that died: %v", err))
		} else {
			markOpenRecords(&rep, recs, func(pid int) bool { return pidAlive(e.ProcRoot, pid) })
		}
		rep.filter(keep)
		rep.Summary = summarize(rep.Devices)
		timing("rules", start)
		start = time.Now()
		if err := o.emit(&rep, func(w io.Writer) {
			if c.Bool("oneline") {
				printCheckLines(w, rep)
			} else if !c.Bool("summary") {
				printCheckReport(w, rep)
			}
			if c.Bool("summary") {
				printCheckSummary(w, rep.Summary)
			}
		}); err != nil {
			return err
		}
		timing("output", start)
		if rep.Missing > 0 {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

// useWarning is the warning of a run that could not read what dom0
// uses, with the fix where there is one.
func useWarning(err error) string {
	if errors.Is(err, pcibind.ErrNoProc) {
		return err.Error() + ": record /proc beside the tree (scripts/capture-sysfs does), or give --proc-root DIR"
	}
	return err.Error()
}

// fullScanGC turns the collector off for a full scan, up to a memory
// limit, unless GOGC or GOMEMLIMIT say otherwise; the returned func puts
// back what was. A scan allocates some 3 KB a function (about 14 MB for
// 4,096), most of it kept to the end of the run: collecting costs the
// scan some 5 % and frees little. The limit keeps far larger hosts
// collected.
func fullScanGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(1 << 30)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

// libxlOwners asks libxl which domain holds which device, only about
// devices on pciback and each list once, and which devices are in a state
// no finished operation leaves; outside a dom0 (no hypervisor, no libxl,
// not root) it returns nil and check reports owners from sysfs alone.
func libxlOwners(e *env, sys *pcibind.Sysfs, host *pcibind.Host, o *output) (func(xl.PciBdf) hotplug.Owner, []hotplug.Repair) {
	ctx, err := e.toolstack()
	if err != nil {
		logrus.WithError(err).Info("check: no libxl; domain assignments unknown")
		return nil, nil
	}
	ts := hotplug.Memo(ctx)
	of := ownersOrSysfs(hotplug.Owners(ts, host), func(err error) {
		o.warn(fmt.Sprintf("cannot ask libxl which domain holds which device: %v", err))
	})
	svc := &hotplug.Service{TS: ts, Host: host, DM: qmp.DeviceModel{}, Kernel: sys}
	bad, err := svc.Inconsistencies()
	if err != nil {
		o.warn(fmt.Sprintf("cannot compare libxl's, QEMU's and Xen's views of the devices: %v", err))
	}
	return of, bad
}

// ownersOrSysfs reports a device libxl could not be asked about as
// pciback's (only devices on pciback need libxl), warning once.
func ownersOrSysfs(of func(xl.PciBdf) (hotplug.Owner, error), warn func(error)) func(xl.PciBdf) hotplug.Owner {
	warned := false
	return func(b xl.PciBdf) hotplug.Owner {
		o, err := of(b)
		if err != nil {
			if !warned {
				warn(err)
				warned = true
			}
			return hotplug.Owner{Kind: hotplug.OwnedByPciback}
		}
		return o
	}
}

// readHost reads what commands about the devices in want need (the
// whole host when want is empty).
func readHost(sys *pcibind.Sysfs, want []xl.PciBdf) (*pcibind.Host, error) {
	var host *pcibind.Host
	var err error
	if len(want) == 0 {
		host, err = sys.Scan()
	} else {
		host, err = sys.Read(want...)
	}
	if err != nil {
		return nil, fmt.Errorf("read the host's PCI devices: %w", err)
	}
	return host, nil
}

// markInconsistent puts a device whose state no finished operation leaves
// (a pci-attach or pci-assignable-add that died) above every other
// verdict, with the command that repairs it.
func markInconsistent(rep *checkReport, bad []hotplug.Repair) {
	for _, r := range bad {
		for i := range rep.Devices {
			d := &rep.Devices[i]
			if d.BDF == r.Device && d.Verdict != verdictInconsistent {
				setVerdict(d, verdictInconsistent, fmt.Sprintf("%s; repair: xlpt recover (it would %s)",
					r.Problem, strings.TrimPrefix(r.Action, "would ")))
			}
		}
	}
}

// markOpenRecords names on each device an intent record that is still
// open for it: a run changing it now (busy), or one that died
// (inconsistent, whatever sysfs shows: after a pci-assignable-add killed
// before libxl's unbind the device looks merely "needs hiding"). alive
// says whether a pid runs.
func markOpenRecords(rep *checkReport, recs []*hotplug.Record, alive func(pid int) bool) {
	for _, rec := range recs {
		op := &openOperation{Op: string(rec.Op), PID: rec.PID, Time: rec.Time.UTC().Format(time.RFC3339),
			Running: alive(rec.PID), Command: rec.Cmdline, Text: rec.String()}
		for _, in := range rec.Devices {
			for i := range rep.Devices {
				d := &rep.Devices[i]
				if d.BDF != in.BDF || !d.Present {
					continue
				}
				d.OpenOperation = op
				if op.Running {
					setVerdict(d, verdictBusy, fmt.Sprintf("being changed now by pid %d: %s", rec.PID, rec))
				} else if d.Verdict != verdictInconsistent {
					setVerdict(d, verdictInconsistent, fmt.Sprintf("an interrupted run left its intent record: %s, and pid %d is gone; "+
						"repair: xlpt recover (or run the same command again)", rec, rec.PID))
				}
			}
		}
	}
}

// setVerdict replaces a device's verdict, its message first among the
// reasons.
func setVerdict(d *checkDevice, verdict, msg string) {
	d.Verdict, d.Message = verdict, msg
	d.Reasons = append([]string{msg}, d.Reasons...)
}

// checkReport is check's --json document.
type checkReport struct {
	envelope
	// Hypervisor is whether owners came from libxl.
	Hypervisor bool          `json:"hypervisor"`
	InUseError string        `json:"in_use_error,omitempty"`
	Summary    checkSummary  `json:"summary"`
	Devices    []checkDevice `json:"devices"`
	Missing    int           `json:"-"`
}

// checkSummary counts the devices reported.
type checkSummary struct {
	Devices   int            `json:"devices"`
	ByVerdict map[string]int `json:"by_verdict"`
	ByOwner   map[string]int `json:"by_owner"` // missing devices have none
	ByKind    map[string]int `json:"by_kind"`  // classKind of the class; missing devices have none
}

// summarize counts devs by verdict, owner and kind.
func summarize(devs []checkDevice) checkSummary {
	s := checkSummary{Devices: len(devs), ByVerdict: map[string]int{}, ByOwner: map[string]int{}, ByKind: map[string]int{}}
	for i := range devs {
		d := &devs[i]
		s.ByVerdict[d.Verdict]++
		if d.Present {
			s.ByOwner[d.Owner]++
			s.ByKind[classKind(d.Class)]++
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

// classKind is the kind of a device by its class (hex, as check shows
// it): its base class in one word, "other" for the rest.
func classKind(class string) string {
	c, err := strconv.ParseUint(class, 16, 32)
	if err != nil || class == "" {
		return "other"
	}
	if k, ok := classKinds[c>>16]; ok {
		return k
	}
	return "other"
}

// parseVerdicts reads --verdict: nil keeps every device.
func parseVerdicts(list string) (map[string]bool, error) {
	if list == "" {
		return nil, nil
	}
	keep := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		v = snakeCase(strings.ReplaceAll(strings.TrimSpace(v), " ", "_"))
		known := false
		for _, k := range verdicts {
			known = known || k == v
		}
		if !known {
			return nil, usagef("--verdict %q: %q is not a verdict (%s)", list, v, strings.Join(verdicts, ", "))
		}
		keep[v] = true
	}
	return keep, nil
}

// filter keeps the devices whose verdict is in keep (all when nil).
func (r *checkReport) filter(keep map[string]bool) {
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

// printCheckLines is --oneline: a line per device, as lspci prints
// them, verdict and owner first.
func printCheckLines(out io.Writer, rep checkReport) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, d := range rep.Devices {
		switch {
		case d.sysfsName != "":
			fmt.Fprintf(w, "%s\t%s\t-\t-\t%s\n", d.sysfsName, d.Verdict, d.Message)
		case !d.Present:
			fmt.Fprintf(w, "%s\t%s\t-\t-\tno such device\n", d.BDF, d.Verdict)
		default:
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s [%s:%s]\n", d.BDF, d.Verdict, d.Owner, checkDash(d.Driver), checkDash(d.Name), d.Vendor, d.Device)
		}
	}
	w.Flush()
}

// printCheckSummary is --summary's text: the counts, a line each.
func printCheckSummary(w io.Writer, s checkSummary) {
	fmt.Fprintf(w, "%d devices\n", s.Devices)
	line := func(what string, m map[string]int, order []string) {
		var parts []string
		seen := map[string]bool{}
		for _, k := range order {
			if m[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", m[k], words(k)))
			}
			seen[k] = true
		}
		var rest []string
		for k := range m {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range rest {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], words(k)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  %-8s %s\n", what, strings.Join(parts, ", "))
		}
	}
	line("verdict", s.ByVerdict, verdicts)
	line("owner", s.ByOwner, []string{"dom0_driver", "none", "assignable", "domain"})
	line("kind", s.ByKind, nil)
}

// pidAlive says whether a process runs, by its directory under procRoot.
func pidAlive(procRoot string, pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}

// check's verdicts beyond hotplug's readiness ones (ready, needs_hiding,
// caution, refused), one word each, with the prose in message: a named
// device that is not there, a device in a state no finished operation
// leaves (or with the intent record of a run that died), a device that
// a live run is changing now.
const (
	verdictMissing      = "missing"
	verdictInconsistent = "inconsistent"
	verdictBusy         = "busy"
)

// verdicts are every verdict check gives, in the order the summary
// lists them.
var verdicts = []string{"ready", "needs_hiding", "caution", "refused", verdictInconsistent, verdictBusy, verdictMissing}

// openOperation is an intent record still open for a device.
type openOperation struct {
	Op      string `json:"op"` // hide, give, attach, detach
	PID     int    `json:"pid"`
	Time    string `json:"time"`    // RFC 3339, UTC: when it began
	Running bool   `json:"running"` // the pid is alive: a run is at work now
	Command string `json:"command"` // its command line
	Text    string `json:"text"`    // the operation in words
}

type checkSRIOV struct {
	Role  string     `json:"role"` // pf or vf
	Total int        `json:"total_vfs,omitempty"`
	Num   int        `json:"num_vfs,omitempty"`
	PF    *xl.PciBdf `json:"pf,omitempty"`
}

type checkDevice struct {
	BDF            xl.PciBdf      `json:"bdf"`
	Present        bool           `json:"present"`
	Vendor         string         `json:"vendor,omitempty"` // hex
	Device         string         `json:"device,omitempty"`
	Class          string         `json:"class,omitempty"`
	Name           string         `json:"name,omitempty"`
	Driver         string         `json:"driver"` // "": none
	Owner          string         `json:"owner"`  // hotplug.Owner.Word: dom0_driver, none, assignable, domain
	OwnerText      string         `json:"owner_text"`
	OriginalDriver string         `json:"original_driver,omitempty"`
	Bus            nullString     `json:"bus"`                 // pcie, conventional, null unknown
	PortType       string         `json:"port_type,omitempty"` // snake_case
	Bridge         string         `json:"bridge,omitempty"`    // snake_case
	Group          []xl.PciBdf    `json:"group,omitempty"`
	GroupBridge    *xl.PciBdf     `json:"group_bridge,omitempty"`
	ResetMethods   []string       `json:"reset_methods"`
	FLR            bool           `json:"flr"`
	MSI            bool           `json:"msi"`
	MSIX           bool           `json:"msix"`
	SRIOV          *checkSRIOV    `json:"sriov,omitempty"`
	NUMANode       numaNode       `json:"numa_node"` // null: none (-1 in sysfs)
	Unread         []string       `json:"unread,omitempty"`
	OpenOperation  *openOperation `json:"open_operation,omitempty"`
	Verdict        string         `json:"verdict"` // one of verdicts
	Message        string         `json:"message"`
	Reasons        []string       `json:"reasons"`
	// sysfsName is the BDF of a function outside xl.PciBdf's range
	// (segment above ffff); it is shown instead of BDF.
	sysfsName string
}

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
func (d checkDevice) MarshalJSON() ([]byte, error) {
	type plain checkDevice
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

// checkHost builds the report; ownerOf may be nil (no hypervisor).
func checkHost(sys *pcibind.Sysfs, host *pcibind.Host, want []xl.PciBdf, ownerOf func(xl.PciBdf) hotplug.Owner, uses []pcibind.Use, useErr error) checkReport {
	rep := checkReport{Hypervisor: ownerOf != nil, Devices: []checkDevice{}}
	if useErr != nil {
		rep.InUseError = useErr.Error()
	}
	explicit := len(want) > 0
	if !explicit {
		rep.Devices = checkAll(sys, host, ownerOf, uses, useErr)
	}
	for _, b := range want {
		d, ok := host.Device(b)
		if !ok {
			if explicit && b.Func == 0 || explicit && !checkSlotExpansion(want, b, host) {
				rep.Devices = append(rep.Devices, checkDevice{BDF: b, Verdict: verdictMissing, Message: "no such device",
					Reasons: []string{"no such device"}})
				rep.Missing++
			}
			continue
		}
		rep.Devices = append(rep.Devices, checkOne(sys, host, d, ownerOf, uses, useErr))
	}
	if !explicit {
		for _, name := range host.OutOfRange {
			msg := fmt.Sprintf("PCI segment %s is above ffff (an Intel VMD controller's devices, typically): Xen and libxl address segments in 16 bits, so it cannot be passed through; pass the VMD controller itself, or turn VMD off in the firmware",
				strings.SplitN(name, ":", 2)[0])
			rep.Devices = append(rep.Devices, checkDevice{sysfsName: name, Present: true, Verdict: string(hotplug.VerdictRefused),
				Owner: "none", OwnerText: "not addressable by Xen", NUMANode: -1, Message: msg, Reasons: []string{msg}, ResetMethods: []string{}})
		}
	}
	return rep
}

// checkSlotExpansion tells a function that BB:DD.* asked for (absent ones
// are skipped) from one named on its own (absent is an error).
func checkSlotExpansion(want []xl.PciBdf, b xl.PciBdf, host *pcibind.Host) bool {
	n := 0
	for _, w := range want {
		if w.Slot() == b.Slot() {
			n++
		}
	}
	return n == 8
}

func checkOne(sys *pcibind.Sysfs, host *pcibind.Host, d *pcibind.Device, ownerOf func(xl.PciBdf) hotplug.Owner, uses []pcibind.Use, useErr error) checkDevice {
	vendor, device, class := checkIDs(d)
	cd := checkDevice{
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
		cd.SRIOV = &checkSRIOV{Role: "vf", PF: d.PhysFn}
	case d.IsPF():
		cd.SRIOV = &checkSRIOV{Role: "pf", Total: d.TotalVFs, Num: d.NumVFs}
	}

	// Owner: libxl knows domains; sysfs knows dom0 and the stubs.
	onStub := pcibind.IsStub(d.Driver)
	var owner hotplug.Owner
	switch {
	case ownerOf != nil:
		owner = ownerOf(d.BDF)
		cd.Owner, cd.OwnerText = owner.Word(), owner.String()
		if owner.Kind == hotplug.OwnedByPciback {
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
	} else if rec, err := sys.LoadRecord(d.BDF); err == nil {
		cd.OriginalDriver = rec.Driver
	}
	r := hotplug.JudgeReadiness(hotplug.ReadinessInput{Device: d, Checker: host, Owner: owner, Uses: uses, UseErr: useErr})
	cd.Verdict = strings.ReplaceAll(string(r.Verdict), "-", "_")
	if r.Reasons != nil {
		cd.Reasons = r.Reasons
	}
	switch {
	case r.Verdict == hotplug.VerdictRefused:
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

func checkBdfs(bs []xl.PciBdf) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

func printCheckReport(w io.Writer, rep checkReport) {
	for i, d := range rep.Devices {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if !d.Present {
			fmt.Fprintf(w, "%s  no such device\n", d.BDF)
			continue
		}
		if d.sysfsName != "" {
			fmt.Fprintf(w, "%s\n  %-12s %s\n  %-12s - %s\n", d.sysfsName, "verdict", d.Verdict, "", d.Message)
			continue
		}
		fmt.Fprintf(w, "%s  %s [%s:%s]\n", d.BDF, checkDash(d.Name), d.Vendor, d.Device)
		row := func(k, v string) { fmt.Fprintf(w, "  %-12s %s\n", k, v) }
		row("driver", checkDash(d.Driver))
		row("owner", d.OwnerText)
		if d.OriginalDriver != "" {
			row("gives back", "to "+d.OriginalDriver)
		}
		bus := string(d.Bus)
		if bus == "" {
			bus = "unknown"
		}
		if d.PortType != "" {
			bus += " " + words(d.PortType)
		}
		if d.Bridge != "" && d.Bridge != d.PortType {
			bus += ", " + words(d.Bridge)
		}
		row("bus", bus)
		if d.GroupBridge != nil {
			row("group", fmt.Sprintf("%s (behind %s: one domain for all)", checkBdfs(d.Group), d.GroupBridge))
		}
		reset := strings.Join(d.ResetMethods, " ")
		if d.FLR {
			reset += " (FLR)"
		}
		row("reset", checkDash(strings.TrimSpace(reset)))
		var irq []string
		if d.MSI {
			irq = append(irq, "MSI")
		}
		if d.MSIX {
			irq = append(irq, "MSI-X")
		}
		row("interrupts", checkDash(strings.Join(irq, " ")))
		if s := d.SRIOV; s != nil {
			if s.Role == "pf" {
				row("sr-iov", fmt.Sprintf("PF with %d/%d VFs", s.Num, s.Total))
			} else if s.PF != nil {
				row("sr-iov", "VF of "+s.PF.String())
			}
		}
		for _, u := range d.Unread {
			row("unread", u)
		}
		row("verdict", words(d.Verdict))
		for _, r := range d.Reasons {
			row("", "- "+r)
		}
	}
}

// snakeCase is an enumerated word as xlpt's JSON spells it (root_port).
func snakeCase(s string) string { return strings.ReplaceAll(s, "-", "_") }

// words is an enumerated word as text shows it (root port).
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func checkDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkAll judges every device of a full scan, in parallel (the scan is
// read-only by then; owners are asked one at a time).
func checkAll(sys *pcibind.Sysfs, host *pcibind.Host, ownerOf func(xl.PciBdf) hotplug.Owner, uses []pcibind.Use, useErr error) []checkDevice {
	if ownerOf != nil {
		var mu sync.Mutex
		of := ownerOf
		ownerOf = func(b xl.PciBdf) hotplug.Owner {
			mu.Lock()
			defer mu.Unlock()
			return of(b)
		}
	}
	// 1.4 MB for 4,096 functions: its pages backed at once (prefault).
	out := prefault.Make[checkDevice](len(host.Devices))
	parallel(len(out), func(i int) {
		out[i] = checkOne(sys, host, host.Devices[i], ownerOf, uses, useErr)
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
