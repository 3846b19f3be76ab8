package hotplug

import (
	"encoding/json"
	"fmt"
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
}

// CheckReport is check's verdict on each device, with what it rests on.
type CheckReport struct {
	// Hypervisor is whether owners came from libxl.
	Hypervisor bool           `json:"hypervisor"`
	InUseError string         `json:"in_use_error,omitempty"`
	Devices    []DeviceReport `json:"devices"`
	Missing    int            `json:"-"` // named devices that are not there
	Warnings   []string       `json:"-"` // for the operator, not the report
}

// VerdictMissing is check's verdict on a named device that is not there;
// the others are the readiness verdicts (ready, needs_hiding, caution,
// refused), one word each, with the prose in Message.
const VerdictMissing = "missing"

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
	SRIOV          *SRIOVRole  `json:"sriov,omitempty"`
	NUMANode       int         `json:"numa_node"`
	Unread         []string    `json:"unread,omitempty"`
	Verdict        string      `json:"verdict"` // ready, needs_hiding, caution, refused, missing
	Message        string      `json:"message"`
	Reasons        []string    `json:"reasons"`
	// sysfsName is the BDF of a function outside xl.PciBdf's range
	// (segment above ffff); it is shown instead of BDF.
	sysfsName string
}

// SysfsName is the name of a function xl.PciBdf cannot hold (a segment
// above ffff), "" for every other.
func (d DeviceReport) SysfsName() string { return d.sysfsName }

// MarshalJSON shows a function of a segment above ffff by its sysfs name.
func (d DeviceReport) MarshalJSON() ([]byte, error) {
	type plain DeviceReport
	if d.sysfsName == "" {
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
// device in a state no finished operation leaves is marked so above any
// other verdict, with the repair. It reads only.
func (s *Service) Check(req CheckRequest) (CheckReport, error) {
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
		warnings = append(warnings, useErr.Error())
	}
	start := time.Now()
	rep := s.checkHost(req.Devices, ow, uses, useErr)
	rep.markInconsistent(bad)
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

// markInconsistent puts a device whose state no finished operation leaves
// (a pci-attach or pci-assignable-add that died) above every other
// verdict, with the command that repairs it.
func (r *CheckReport) markInconsistent(bad []Repair) {
	for _, f := range bad {
		for i := range r.Devices {
			if r.Devices[i].BDF == f.Device && !strings.HasPrefix(r.Devices[i].Verdict, "inconsistent") {
				r.Devices[i].Verdict = fmt.Sprintf("inconsistent: %s; repair: xlpt recover (it would %s)",
					f.Problem, strings.TrimPrefix(f.Action, "would "))
			}
		}
	}
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
					Reasons: []string{"no such device"}, ResetMethods: []string{}})
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
				Message: msg, Reasons: []string{msg}, ResetMethods: []string{}})
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
		cd.Owner = owner.String()
		if owner.Kind == OwnedByPciback {
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
