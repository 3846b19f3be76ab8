package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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
caution: ..., or refused: ... (host and PCI bridges, SR-IOV PFs with VFs,
devices dom0 needs now). Reads only; needs root to see whole config spaces.

Examples:
   xlpt check
   xlpt check 03:00.0 03:00.1
   xlpt --sysfs-root capture/sys check --json   (capture/proc beside it)`,
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "no-libxl", Usage: "Do not ask libxl which domain holds which device"},
	},
	Action: func(c *cli.Context) error {
		var want []xl.PciBdf
		for _, a := range c.Args().Slice() {
			b, all, err := xl.ParseBdf(a)
			if err != nil {
				return usageError{err}
			}
			if all {
				want = append(want, b.Functions()...)
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
			o.warn(useErr.Error())
		}
		start = time.Now()
		rep := checkHost(sys, host, want, ownerOf, uses, useErr)
		markInconsistent(&rep, bad)
		timing("rules", start)
		start = time.Now()
		if err := o.emit(&rep, func(w io.Writer) { printCheckReport(w, rep) }); err != nil {
			return err
		}
		timing("output", start)
		if rep.Missing > 0 {
			return exitStatus(exitFailed)
		}
		return nil
	},
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
			if rep.Devices[i].BDF == r.Device && !strings.HasPrefix(rep.Devices[i].Verdict, "inconsistent") {
				rep.Devices[i].Verdict = fmt.Sprintf("inconsistent: %s; repair: xlpt recover (it would %s)",
					r.Problem, strings.TrimPrefix(r.Action, "would "))
			}
		}
	}
}

// checkReport is check's --json document.
type checkReport struct {
	envelope
	// Hypervisor is whether owners came from libxl.
	Hypervisor bool          `json:"hypervisor"`
	InUseError string        `json:"in_use_error,omitempty"`
	Devices    []checkDevice `json:"devices"`
	Missing    int           `json:"-"`
}

// verdictMissing is check's verdict on a named device that is not there;
// the others are hotplug's readiness verdicts (ready, needs_hiding,
// caution, refused), one word each, with the prose in message.
const verdictMissing = "missing"

type checkSRIOV struct {
	Role  string     `json:"role"` // pf or vf
	Total int        `json:"total_vfs,omitempty"`
	Num   int        `json:"num_vfs,omitempty"`
	PF    *xl.PciBdf `json:"pf,omitempty"`
}

type checkDevice struct {
	BDF            xl.PciBdf   `json:"bdf"`
	Present        bool        `json:"present"`
	Vendor         string      `json:"vendor,omitempty"` // hex
	Device         string      `json:"device,omitempty"`
	Class          string      `json:"class,omitempty"`
	Name           string      `json:"name,omitempty"`
	Driver         string      `json:"driver"`
	Owner          string      `json:"owner"`
	OriginalDriver string      `json:"original_driver,omitempty"`
	Bus            string      `json:"bus"` // pcie, conventional, unknown
	PortType       string      `json:"port_type,omitempty"`
	Bridge         string      `json:"bridge,omitempty"`
	Group          []xl.PciBdf `json:"group,omitempty"`
	GroupBridge    *xl.PciBdf  `json:"group_bridge,omitempty"`
	ResetMethods   []string    `json:"reset_methods"`
	FLR            bool        `json:"flr"`
	MSI            bool        `json:"msi"`
	MSIX           bool        `json:"msix"`
	SRIOV          *checkSRIOV `json:"sriov,omitempty"`
	NUMANode       int         `json:"numa_node"`
	Unread         []string    `json:"unread,omitempty"`
	Verdict        string      `json:"verdict"` // ready, needs_hiding, caution, refused, missing
	Message        string      `json:"message"`
	Reasons        []string    `json:"reasons"`
	// sysfsName is the BDF of a function outside xl.PciBdf's range
	// (segment above ffff); it is shown instead of BDF.
	sysfsName string
}

// MarshalJSON shows a function of a segment above ffff by its sysfs name.
func (d checkDevice) MarshalJSON() ([]byte, error) {
	type plain checkDevice
	if d.sysfsName == "" {
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
					Reasons: []string{"no such device"}, ResetMethods: []string{}})
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
				Message: msg, Reasons: []string{msg}, ResetMethods: []string{}})
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
		BDF: d.BDF, Present: true, Driver: d.Driver, NUMANode: d.NUMANode,
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
		cd.PortType = d.Caps.PCIe.Type.String()
	case d.IsConventional():
		cd.Bus = "conventional"
	default:
		cd.Bus = "unknown"
	}
	if k := d.BridgeKind(); k != pcibind.NotBridge {
		cd.Bridge = k.String()
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
		cd.Owner = owner.String()
		if owner.Kind == hotplug.OwnedByPciback {
			cd.Owner = "assignable (pciback; quarantined by Xen)"
		}
	case onStub:
		cd.Owner = d.Driver + ", assignable (no hypervisor: domain assignment unknown)"
	case d.Driver == "":
		cd.Owner = "dom0 (no driver)"
	default:
		cd.Owner = "dom0 driver " + d.Driver
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
		fmt.Fprintf(w, "%s  %s [%s:%s]\n", d.BDF, orDash(d.Name), d.Vendor, d.Device)
		row := func(k, v string) { fmt.Fprintf(w, "  %-12s %s\n", k, v) }
		row("driver", orDash(d.Driver))
		row("owner", d.Owner)
		if d.OriginalDriver != "" {
			row("gives back", "to "+d.OriginalDriver)
		}
		bus := d.Bus
		if d.PortType != "" {
			bus += " " + d.PortType
		}
		if d.Bridge != "" && d.Bridge != d.PortType {
			bus += ", " + d.Bridge
		}
		row("bus", bus)
		if d.GroupBridge != nil {
			row("group", fmt.Sprintf("%s (behind %s: one domain for all)", xl.JoinBdfs(d.Group), d.GroupBridge))
		}
		reset := strings.Join(d.ResetMethods, " ")
		if d.FLR {
			reset += " (FLR)"
		}
		row("reset", orDash(strings.TrimSpace(reset)))
		var irq []string
		if d.MSI {
			irq = append(irq, "MSI")
		}
		if d.MSIX {
			irq = append(irq, "MSI-X")
		}
		row("interrupts", orDash(strings.Join(irq, " ")))
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
		row("verdict", strings.ReplaceAll(d.Verdict, "_", " "))
		for _, r := range d.Reasons {
			row("", "- "+r)
		}
	}
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
