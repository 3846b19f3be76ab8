package hotplug

import (
	"fmt"

	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// HideCmdlineRequest is hide-cmdline: the devices as given (BDFs; BB:DD.*
// for every function of a slot), or the host setup's pciback devices.
type HideCmdlineRequest struct {
	Specs     []string
	Persisted bool
}

// HideCmdlineResult is the boot-time line and what to know about it.
type HideCmdlineResult struct {
	Cmdline  string
	Devices  []xl.PciBdf
	Warnings []string // split groups, devices dom0 needs or that cannot be assigned
	Notes    []string // what the line leaves out, and why
}

// HideCmdline is the kernel command line that makes pciback claim the
// devices at boot, xen-pciback.hide=(BDF)(BDF), checked against this
// host: each device must exist, and a split same-domain group, a device
// dom0 needs or one that cannot be assigned is warned about. It changes
// nothing.
func (s *Service) HideCmdline(req HideCmdlineRequest) (HideCmdlineResult, error) {
	var res HideCmdlineResult
	specs := req.Specs
	if req.Persisted {
		p, err := s.loadSetup()
		if err != nil {
			return res, err
		}
		set, notes := p.HideCmdlineSet()
		res.Notes = append(res.Notes, notes...)
		if len(set) == 0 {
			return res, fmt.Errorf("%s lists no device for pciback to hide at boot (pci-assignable-add --persist records one)", p.Path)
		}
		specs = nil
		for _, b := range set {
			specs = append(specs, b.String())
		}
	}
	type arg struct {
		b   xl.PciBdf
		all bool
		s   string
	}
	var as []arg
	var named []xl.PciBdf
	for _, a := range specs {
		b, all, err := xl.ParseBdf(a)
		if err != nil {
			return res, err
		}
		as = append(as, arg{b, all, a})
		if !all {
			named = append(named, b)
		}
	}
	if err := s.readHost(named...); err != nil {
		return res, err
	}
	for _, a := range as {
		fns := []xl.PciBdf{a.b}
		if a.all {
			if fns = s.host.Functions(a.b.Slot()); len(fns) == 0 {
				// A slot of SR-IOV VFs: pciback claims each VF listed
				// when its PF's driver creates it.
				if fns = slotVFs(s.host, a.b.Slot()); len(fns) > 0 {
					res.Notes = append(res.Notes, fmt.Sprintf("%s: SR-IOV VFs; they exist once their PF's driver creates them (sriov_numvfs), and pciback claims them then", a.s))
				}
			}
		} else if _, ok := s.host.Device(a.b); !ok {
			fns = nil
		}
		if len(fns) == 0 {
			return res, fmt.Errorf("%q: no such device on this host", a.s)
		}
		res.Devices = append(res.Devices, fns...)
	}
	uses, err := s.sysfs.InUse()
	if err != nil {
		res.Warnings = append(res.Warnings, UseWarning(err))
	}
	for _, b := range res.Devices {
		for _, r := range s.host.Refusals(b, uses) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s", b, r))
		}
	}
	res.Warnings = append(res.Warnings, s.host.SplitGroups(res.Devices)...)
	res.Cmdline = pcibind.HideCmdline(res.Devices)
	return res, nil
}

// slotVFs is every SR-IOV VF in a slot (Functions leaves VFs out: they are
// not functions of one multi-function device).
func slotVFs(host *pcibind.Host, slot xl.PciBdf) []xl.PciBdf {
	var out []xl.PciBdf
	for _, b := range slot.Functions() {
		if d, ok := host.Device(b); ok && d.IsVF() {
			out = append(out, b)
		}
	}
	return out
}

// MSIRequest is `xlpt msi`: functions, each with the msitranslate its
// spec sets (nil: the guest's), and the guest they would go to.
type MSIRequest struct {
	Devices      []MSIDeviceRequest
	Msitranslate bool   // xl.cfg's pci_msitranslate
	DeviceModel  string // msi.QemuXen or msi.QemuXenTraditional
	PV           bool
}

// MSIDeviceRequest is one function of an MSI report.
type MSIDeviceRequest struct {
	BDF          xl.PciBdf
	Msitranslate *bool // the spec's msitranslate=, when it has one
}

// MSIDeviceOf is the function a spec names for an MSI report
// (BDF[,msitranslate=N]): a msitranslate= in the spec overrides the
// guest's pci_msitranslate, as in xl.cfg. A spec that names no one
// function (name=, BB:DD.*) is refused.
func MSIDeviceOf(spec string) (MSIDeviceRequest, error) {
	d, err := xl.ParseSpec(spec)
	if err != nil {
		return MSIDeviceRequest{}, err
	}
	if d.VfuncMask == 0 || d.AllFuncs() {
		return MSIDeviceRequest{}, badRequestf("%q: give one function's BDF", spec)
	}
	it := MSIDeviceRequest{BDF: d.PciBdf}
	if set, _ := xl.SpecKeys(spec); set["msitranslate"] != "" {
		it.Msitranslate = &d.Msitranslate
	}
	return it, nil
}

// MSIReport is each function's MSI and MSI-X capabilities and what
// msitranslate will do with it.
type MSIReport struct {
	Devices []MSIDevice `json:"devices"`
	Missing []xl.PciBdf `json:"-"` // functions not on this host
}

// MSIDevice is one function in an MSI report.
type MSIDevice struct {
	BDF         xl.PciBdf       `json:"bdf"`
	MSI         *msi.MSI        `json:"msi"`
	MSIX        *msi.MSIX       `json:"msix"`
	IsVF        bool            `json:"sriov_vf"`
	Incomplete  []string        `json:"config_unread,omitempty"`
	Problems    []string        `json:"problems,omitempty"`
	Translation msi.Translation `json:"msitranslate"`
}

// MSI decodes each function's MSI and MSI-X capabilities from its config
// space and says whether msitranslate takes effect for it.
func (s *Service) MSI(req MSIRequest) (MSIReport, error) {
	rep := MSIReport{Devices: []MSIDevice{}}
	var named []xl.PciBdf
	for _, d := range req.Devices {
		named = append(named, d.BDF)
	}
	if err := s.readHost(named...); err != nil {
		return rep, err
	}
	for _, it := range req.Devices {
		d, ok := s.host.Device(it.BDF)
		if !ok {
			rep.Missing = append(rep.Missing, it.BDF)
			continue
		}
		caps := msi.Decode(d.Config)
		r := MSIDevice{BDF: d.BDF, MSI: caps.MSI, MSIX: caps.MSIX, IsVF: d.IsVF(), Incomplete: d.Unread}
		if caps.MSIX != nil {
			r.Problems = caps.MSIX.Problems()
		}
		r.Translation = msi.Resolve(msi.TranslateInput{Global: req.Msitranslate, Device: it.Msitranslate, HVM: !req.PV,
			DeviceModel: req.DeviceModel, Caps: caps, IsVF: d.IsVF()})
		rep.Devices = append(rep.Devices, r)
	}
	return rep, nil
}
