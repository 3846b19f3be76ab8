package hotplug

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

// GuestConfig is what an xl.cfg says about passthrough, read as xl 4.17
// reads it.
type GuestConfig struct {
	Name        string
	Type        xl.DomainType
	MemoryMiB   uint64
	MaxMemMiB   uint64
	VGA         string
	DeviceModel string // device_model_version; "" is qemu-xen
	Passthrough string // "" when unset
	MMIOHoleMiB uint64

	// RdmText is rdm= as written; Rdm is what it means, RdmXL what xl
	// 4.17 really hands libxl (its parser drops valid settings).
	RdmText        string
	Rdm            rdm.Setting
	RdmXL          rdm.Xl417Result
	MemBoundaryMiB uint64

	GlobalMsitranslate bool
	Entries            []GuestPCI
}

// GuestPCI is one pci = [...] entry.
type GuestPCI struct {
	Spec string
	Dev  xl.DevicePci
	Err  error // the entry does not parse (or xl would misread it)
	// MsiGiven is the entry's own msitranslate=, nil when not given.
	MsiGiven *bool
}

// Finding is one line of a check report.
type Finding struct {
	Level   string `json:"level"` // ok, warn, fail
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// GuestReport is the verdict on a guest config.
type GuestReport struct {
	Config   GuestConfig `json:"-"`
	Findings []Finding   `json:"findings"`
	Rdm      *rdm.Result `json:"rdm,omitempty"`
}

// Fails reports whether anything would stop the guest or its devices.
func (r GuestReport) Fails() bool {
	for _, f := range r.Findings {
		if f.Level == "fail" {
			return true
		}
	}
	return false
}

func (r *GuestReport) add(level, subject, format string, a ...any) {
	r.Findings = append(r.Findings, Finding{level, subject, fmt.Sprintf(format, a...)})
}

// ReadGuestConfig extracts the passthrough settings from an xl.cfg. Bad
// settings become findings, so one report shows every problem.
func ReadGuestConfig(f *xlcfg.File) (GuestConfig, []Finding) {
	var g GuestConfig
	var out []Finding
	bad := func(subject, format string, a ...any) {
		out = append(out, Finding{"fail", subject, fmt.Sprintf(format, a...)})
	}
	for _, w := range f.Warnings {
		out = append(out, Finding{"warn", "file", w})
	}
	g.Name, _ = f.String("name")
	g.Type = xl.DomainTypePV // xl 4.17's default with neither type= nor builder=
	t, ok := f.String("type")
	if !ok {
		t, _ = f.String("builder")
		if t == "generic" {
			t = "pv"
		}
	}
	switch t {
	case "hvm":
		g.Type = xl.DomainTypeHVM
	case "pvh":
		g.Type = xl.DomainTypePVH
	case "pv", "":
	default:
		bad("type", "type %q is not pv, pvh or hvm", t)
	}
	num := func(name string) (uint64, bool) {
		n, ok, err := f.Long(name)
		if err != nil {
			bad(name, "%v", err)
			return 0, false
		}
		if ok && n < 0 {
			bad(name, "%s = %d is negative", name, n)
			return 0, false
		}
		return uint64(n), ok
	}
	g.MemoryMiB, _ = num("memory")
	if g.MemoryMiB == 0 {
		g.MemoryMiB = 128 // libxl's default for a guest without memory=
	}
	if m, ok := num("maxmem"); ok {
		g.MaxMemMiB = m
	} else {
		g.MaxMemMiB = g.MemoryMiB
	}
	g.MMIOHoleMiB, _ = num("mmio_hole")
	g.MemBoundaryMiB, _ = num("rdm_mem_boundary")
	g.VGA, _ = f.String("vga")
	if g.VGA == "" {
		g.VGA = "cirrus"
		if v, ok, _ := f.Long("stdvga"); ok && v != 0 {
			g.VGA = "stdvga"
		}
		if v, ok, _ := f.Long("nographic"); ok && v != 0 {
			g.VGA = "none"
		}
	}
	g.DeviceModel, _ = f.String("device_model_version")
	g.Passthrough, _ = f.String("passthrough")

	base := xl.NewDevicePci()
	for _, o := range []struct {
		name string
		dst  *bool
	}{{"pci_msitranslate", &base.Msitranslate}, {"pci_power_mgmt", &base.PowerMgmt},
		{"pci_permissive", &base.Permissive}, {"pci_seize", &base.Seize}} {
		if v, ok := num(o.name); ok {
			*o.dst = v != 0
		}
	}
	g.GlobalMsitranslate = base.Msitranslate

	if text, ok := f.String("rdm"); ok {
		g.RdmText = text
		s, err := rdm.ParseRdm(text)
		if err != nil {
			bad("rdm", "%v", err)
		}
		g.Rdm = s
		g.RdmXL = rdm.Xl417Rdm(text)
		if w := rdm.Xl417Warning(text); w != "" {
			out = append(out, Finding{"warn", "rdm", w})
		}
	} else {
		g.RdmXL = rdm.Xl417Rdm("")
		g.RdmXL.Applied, g.RdmXL.Rc = false, 0
	}
	// xl copies its (possibly dropped) global policy into every entry.
	base.RdmPolicy = g.RdmXL.Policy
	if g.RdmXL.PolicyUninit {
		base.RdmPolicy = xl.RdmPolicyInvalid
	}

	specs, _, err := f.StringList("pci")
	if err != nil {
		bad("pci", "%v", err)
	}
	for _, s := range specs {
		e := GuestPCI{Spec: s}
		e.Dev, e.Err = xl.ParseSpecFrom(base, s)
		if e.Err == nil {
			// Whether the entry names msitranslate itself: parse over
			// both defaults and see if the result follows them.
			alt := base
			alt.Msitranslate = !base.Msitranslate
			if d2, err := xl.ParseSpecFrom(alt, s); err == nil && d2.Msitranslate == e.Dev.Msitranslate {
				v := e.Dev.Msitranslate
				e.MsiGiven = &v
			}
		}
		g.Entries = append(g.Entries, e)
	}
	return g, out
}

// GuestCheck is the world a guest config is checked against. Owner and
// Regions may be nil (no hypervisor to ask).
type GuestCheck struct {
	Host    Host
	Owner   func(xl.PciBdf) Owner
	Regions []rdm.Region
}

// CheckGuestConfig reports every reason the guest would fail to start, or
// its devices would not work as written, before xl create is run.
func (c GuestCheck) CheckGuestConfig(g GuestConfig, pre []Finding) GuestReport {
	r := GuestReport{Config: g, Findings: append([]Finding(nil), pre...)}
	hvm := g.Type == xl.DomainTypeHVM
	var devs []xl.DevicePci
	listed := map[xl.PciBdf]bool{}
	slots := map[uint8]string{}
	for _, e := range g.Entries {
		if e.Err != nil {
			r.add("fail", e.Spec, "%v", e.Err)
			continue
		}
		d := e.Dev
		if d.VfuncMask == 0 {
			r.add("warn", e.Spec, "named device %q: resolved by libxl at create time, not checked here", d.Name)
			continue
		}
		funcs := []xl.PciBdf{d.PciBdf}
		if d.AllFuncs() && c.Host != nil {
			funcs = c.Host.Functions(d.PciBdf.Slot())
		}
		for _, b := range funcs {
			listed[b] = true
		}
		devs = append(devs, d)
		if s := d.VSlot(); s != 0 {
			switch {
			case !hvm:
				r.add("warn", e.Spec, "@%x: PV guests have no virtual slots; pcifront places the device", s)
			case slots[s] != "":
				r.add("fail", e.Spec, "guest slot %x is also requested by %q: qemu refuses the second device_add", s, slots[s])
			default:
				slots[s] = e.Spec
			}
		}
		if c.Host == nil {
			continue
		}
		if len(funcs) == 0 {
			r.add("fail", e.Spec, "no functions at %02x:%02x on this host", d.Bus, d.Dev)
		}
		for _, b := range funcs {
			dev, ok := c.Host.Device(b)
			if !ok {
				r.add("fail", e.Spec, "%s: no such PCI device on this host (see `xlpt check`)", b)
				continue
			}
			c.checkOwner(&r, e, b, dev.Driver)
			if hvm {
				tr := msi.Resolve(msi.TranslateInput{Global: g.GlobalMsitranslate, Device: e.MsiGiven, HVM: hvm,
					DeviceModel: g.DeviceModel, Caps: msi.Decode(dev.Config), IsVF: dev.IsVF()})
				for _, w := range tr.Warnings {
					r.add("warn", e.Spec, "%s", w)
				}
				for _, p := range tr.Problems {
					r.add("fail", e.Spec, "%s", p)
				}
			}
		}
	}
	// The same-domain rule, within the file.
	if c.Host != nil {
		reported := map[xl.PciBdf]bool{}
		for b := range listed {
			br, _ := c.Host.GroupBridge(b)
			if reported[br] {
				continue
			}
			var missing []string
			for _, m := range c.Host.Group(b) {
				if !listed[m] {
					missing = append(missing, m.String())
				}
			}
			if len(missing) > 0 {
				reported[br] = true
				r.add("fail", b.String(), "conventional PCI behind bridge %s: every device behind it must go to the same domain; add %s to pci (or leave %s out)",
					br, strings.Join(missing, ", "), b)
			}
		}
	}
	// Whether devices can be hot-plugged later, and whether libxl will
	// accept passthrough at all.
	switch {
	case len(devs) == 0 && g.Passthrough != "enabled" && g.Passthrough != "sync_pt" && g.Passthrough != "share_pt":
		r.add("warn", "passthrough", "no pci devices and passthrough is not set: libxl creates the guest without an IOMMU context, so pci-attach will fail later; add passthrough=\"enabled\" to hot-plug devices")
	case len(devs) > 0 && g.Passthrough == "disabled":
		r.add("fail", "passthrough", "passthrough=\"disabled\" with pci devices: libxl refuses to create the guest")
	case len(devs) > 0:
		r.add("ok", "passthrough", "the guest gets an IOMMU context; devices can be attached and hot-plugged")
	}
	if hvm && g.MaxMemMiB > g.MemoryMiB && (len(devs) > 0 || g.Passthrough == "enabled") {
		r.add("fail", "memory", "memory %d MiB below maxmem %d MiB makes an HVM guest populate-on-demand, and Xen refuses to assign devices to it: set maxmem = memory", g.MemoryMiB, g.MaxMemMiB)
	}
	if hvm {
		c.checkRdm(&r, g)
	} else if g.RdmText != "" {
		r.add("warn", "rdm", "rdm= only applies to HVM guests")
	}
	return r
}

func (c GuestCheck) checkOwner(r *GuestReport, e GuestPCI, b xl.PciBdf, driver string) {
	ow := Owner{Kind: OwnedByDom0Driver, Driver: driver}
	switch {
	case c.Owner != nil:
		ow = c.Owner(b)
	case driver == "":
		ow = Owner{Kind: OwnedByNobody}
	case driver == "pciback" || driver == "xen-pciback":
		ow = Owner{Kind: OwnedByPciback}
	}
	switch ow.Kind {
	case OwnedByPciback:
		r.add("ok", e.Spec, "%s is assignable", b)
	case OwnedByDomain:
		r.add("fail", e.Spec, "%s is held by %s: the guest cannot start with it", b, ow)
	default:
		if e.Dev.Seize {
			r.add("warn", e.Spec, "%s is held by %s; seize=1 makes xl take it at create time", b, ow)
		} else {
			r.add("fail", e.Spec, "%s is held by %s: run `xlpt pci-assignable-add %s` first (or add seize=1)", b, ow, b)
		}
	}
}

// RdmGuest is the guest as libxl's RDM code sees it when xl creates it:
// xl 4.17's reading of rdm= (which drops valid settings), and the pci
// entries that parsed.
func (g GuestConfig) RdmGuest() rdm.Guest {
	guest := rdm.Guest{MemoryMiB: g.MemoryMiB, MaxMemMiB: g.MaxMemMiB, MMIOHoleMiB: g.MMIOHoleMiB, HAP: true,
		Rdm:            xl.RdmReserve{Strategy: g.RdmXL.Strategy, Policy: g.RdmXL.Policy},
		MemBoundaryMiB: g.MemBoundaryMiB}
	if video, err := rdm.DefaultVideoMiB(g.VGA, g.DeviceModel == msi.QemuXenTraditional); err == nil {
		guest.VideoMiB = video
	}
	for _, e := range g.Entries {
		if e.Err == nil && e.Dev.VfuncMask != 0 {
			guest.Devices = append(guest.Devices, e.Dev)
		}
	}
	return guest
}

func (c GuestCheck) checkRdm(r *GuestReport, g GuestConfig) {
	guest := g.RdmGuest()
	res, err := rdm.Check(guest, c.Regions)
	if err != nil {
		r.add("fail", "rdm", "%v", err)
		return
	}
	r.Rdm = &res
	for _, rc := range res.Regions {
		level := "ok"
		switch rc.Outcome {
		case rdm.Refused:
			level = "fail"
		case rdm.Ignored:
			level = "warn"
		}
		msg := fmt.Sprintf("%s: %s", rc.Outcome, rc.Reason)
		if rc.Message != "" {
			msg += fmt.Sprintf(" (libxl: %q)", rc.Message)
		}
		r.add(level, "rdm "+rc.Region.String(), "%s", msg)
	}
	for _, a := range res.Assign {
		level := "warn"
		if a.Refused {
			level = "fail"
		}
		r.add(level, "rdm "+a.Device.String(), "%s", a.Message)
	}
	if res.Fails && !r.Fails() {
		r.add("fail", "rdm", "libxl would refuse to build the guest: %s", strings.Join(res.Errors, "; "))
	}
}
