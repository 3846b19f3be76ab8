package hotplug

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/pcibind"
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
	rd := &cfgReader{f: f}
	for _, w := range f.Warnings {
		rd.out = append(rd.out, Finding{"warn", "file", w})
	}
	var g GuestConfig
	g.Name, _ = f.String("name")
	g.Type = rd.domainType()
	rd.memory(&g)
	g.VGA = rd.vga()
	g.DeviceModel, _ = f.String("device_model_version")
	g.Passthrough, _ = f.String("passthrough")
	base := rd.pciDefaults(&g)
	g.Entries = rd.pciEntries(base)
	return g, rd.out
}

// cfgReader reads one xl.cfg, collecting findings as it goes.
type cfgReader struct {
	f   *xlcfg.File
	out []Finding
}

func (rd *cfgReader) bad(subject, format string, a ...any) {
	rd.out = append(rd.out, Finding{"fail", subject, fmt.Sprintf(format, a...)})
}

// num reads a non-negative number; a bad one is a finding.
func (rd *cfgReader) num(name string) (uint64, bool) {
	n, ok, err := rd.f.Long(name)
	if err != nil {
		rd.bad(name, "%v", err)
		return 0, false
	}
	if ok && n < 0 {
		rd.bad(name, "%s = %d is negative", name, n)
		return 0, false
	}
	return uint64(n), ok
}

func (rd *cfgReader) domainType() xl.DomainType {
	t, ok := rd.f.String("type")
	if !ok {
		t, _ = rd.f.String("builder")
		if t == "generic" {
			t = "pv"
		}
	}
	switch t {
	case "hvm":
		return xl.DomainTypeHVM
	case "pvh":
		return xl.DomainTypePVH
	case "pv", "":
	default:
		rd.bad("type", "type %q is not pv, pvh or hvm", t)
	}
	return xl.DomainTypePV // xl 4.17's default with neither type= nor builder=
}

func (rd *cfgReader) memory(g *GuestConfig) {
	g.MemoryMiB, _ = rd.num("memory")
	if g.MemoryMiB == 0 {
		g.MemoryMiB = 128 // libxl's default for a guest without memory=
	}
	if m, ok := rd.num("maxmem"); ok {
		g.MaxMemMiB = m
	} else {
		g.MaxMemMiB = g.MemoryMiB
	}
	g.MMIOHoleMiB, _ = rd.num("mmio_hole")
	g.MemBoundaryMiB, _ = rd.num("rdm_mem_boundary")
}

func (rd *cfgReader) vga() string {
	v, _ := rd.f.String("vga")
	if v != "" {
		return v
	}
	v = "cirrus"
	if n, ok, _ := rd.f.Long("stdvga"); ok && n != 0 {
		v = "stdvga"
	}
	if n, ok, _ := rd.f.Long("nographic"); ok && n != 0 {
		v = "none"
	}
	return v
}

// pciDefaults reads the pci_* defaults and rdm=, and returns the device
// every pci entry starts from, as xl builds it.
func (rd *cfgReader) pciDefaults(g *GuestConfig) xl.DevicePci {
	base := xl.NewDevicePci()
	for _, o := range []struct {
		name string
		dst  *bool
	}{{"pci_msitranslate", &base.Msitranslate}, {"pci_power_mgmt", &base.PowerMgmt},
		{"pci_permissive", &base.Permissive}, {"pci_seize", &base.Seize}} {
		if v, ok := rd.num(o.name); ok {
			*o.dst = v != 0
		}
	}
	g.GlobalMsitranslate = base.Msitranslate

	if text, ok := rd.f.String("rdm"); ok {
		g.RdmText = text
		s, err := rdm.ParseRdm(text)
		if err != nil {
			rd.bad("rdm", "%v", err)
		}
		g.Rdm = s
		g.RdmXL = rdm.Xl417Rdm(text)
		if w := rdm.Xl417Warning(text); w != "" {
			rd.out = append(rd.out, Finding{"warn", "rdm", w})
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
	return base
}

func (rd *cfgReader) pciEntries(base xl.DevicePci) []GuestPCI {
	specs, _, err := rd.f.StringList("pci")
	if err != nil {
		rd.bad("pci", "%v", err)
	}
	var out []GuestPCI
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
		out = append(out, e)
	}
	return out
}

// GuestCheck is the world a guest config is checked against. Owner and
// Regions may be nil (no hypervisor to ask).
type GuestCheck struct {
	Host    *pcibind.Host
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
		devs = append(devs, d)
		c.checkSlot(&r, e, hvm, slots)
		for _, b := range c.checkEntry(&r, g, e) {
			listed[b] = true
		}
	}
	c.checkGroups(&r, listed)
	checkPassthrough(&r, g, len(devs))
	if hvm {
		c.checkRdm(&r, g)
	} else if g.RdmText != "" {
		r.add("warn", "rdm", "rdm= only applies to HVM guests")
	}
	return r
}

// checkSlot: virtual slots mean something only to HVM guests, and two
// entries cannot share one.
func (c GuestCheck) checkSlot(r *GuestReport, e GuestPCI, hvm bool, slots map[uint8]string) {
	s := e.Dev.VSlot()
	switch {
	case s == 0:
	case !hvm:
		r.add("warn", e.Spec, "@%x: PV guests have no virtual slots; pcifront places the device", s)
	case slots[s] != "":
		r.add("fail", e.Spec, "guest slot %x is also requested by %q: qemu refuses the second device_add", s, slots[s])
	default:
		slots[s] = e.Spec
	}
}

// checkEntry checks each host function an entry names (its owner, and
// for HVM its MSI), and returns those functions.
func (c GuestCheck) checkEntry(r *GuestReport, g GuestConfig, e GuestPCI) []xl.PciBdf {
	d := e.Dev
	funcs := []xl.PciBdf{d.PciBdf}
	if d.AllFuncs() && c.Host != nil {
		funcs = c.Host.Functions(d.PciBdf.Slot())
	}
	if c.Host == nil {
		return funcs
	}
	if len(funcs) == 0 {
		r.add("fail", e.Spec, "no functions at %02x:%02x on this host", d.Bus, d.Dev)
	}
	hvm := g.Type == xl.DomainTypeHVM
	for _, b := range funcs {
		dev, ok := c.Host.Device(b)
		if !ok {
			r.add("fail", e.Spec, "%s: no such PCI device on this host (see `xlpt check`)", b)
			continue
		}
		c.checkOwner(r, e, b, dev.Driver)
		if !hvm {
			continue
		}
		tr := msi.Resolve(msi.TranslateInput{Global: g.GlobalMsitranslate, Device: e.MsiGiven, HVM: hvm,
			DeviceModel: g.DeviceModel, Caps: msi.Decode(dev.Config), IsVF: dev.IsVF()})
		for _, w := range tr.Warnings {
			r.add("warn", e.Spec, "%s", w)
		}
		for _, p := range tr.Problems {
			r.add("fail", e.Spec, "%s", p)
		}
	}
	return funcs
}

// checkGroups is the same-domain rule within the file.
func (c GuestCheck) checkGroups(r *GuestReport, listed map[xl.PciBdf]bool) {
	if c.Host == nil {
		return
	}
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

// checkPassthrough: whether devices can be hot-plugged later, and whether
// libxl will accept passthrough at all.
func checkPassthrough(r *GuestReport, g GuestConfig, ndevs int) {
	switch {
	case ndevs == 0 && g.Passthrough != "enabled" && g.Passthrough != "sync_pt" && g.Passthrough != "share_pt":
		r.add("warn", "passthrough", "no pci devices and passthrough is not set: libxl creates the guest without an IOMMU context, so pci-attach will fail later; add passthrough=\"enabled\" to hot-plug devices")
	case ndevs > 0 && g.Passthrough == "disabled":
		r.add("fail", "passthrough", "passthrough=\"disabled\" with pci devices: libxl refuses to create the guest")
	case ndevs > 0:
		r.add("ok", "passthrough", "the guest gets an IOMMU context; devices can be attached and hot-plugged")
	}
	if g.Type == xl.DomainTypeHVM && g.MaxMemMiB > g.MemoryMiB && (ndevs > 0 || g.Passthrough == "enabled") {
		r.add("fail", "memory", "memory %d MiB below maxmem %d MiB makes an HVM guest populate-on-demand, and Xen refuses to assign devices to it: set maxmem = memory", g.MemoryMiB, g.MaxMemMiB)
	}
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

// GuestFileReport is cfg check's report on one xl.cfg, with what its
// sources said along the way.
type GuestFileReport struct {
	GuestReport
	Notes    []string // on the region sources
	Warnings []string // on the owners
}

// CheckGuestFile checks the xl.cfg at path against this host before xl
// create: its devices exist and are assignable, its groups whole, its
// slots distinct, its reserved regions clear of guest RAM (from src), its
// settings able to pass devices through. A host that cannot be read, or
// libxl that cannot be asked, is a finding, not an error.
func (s *Service) CheckGuestFile(path string, src RegionSources) (GuestFileReport, error) {
	var rep GuestFileReport
	f, err := xlcfg.Load(path)
	if err != nil {
		return rep, err
	}
	g, pre := ReadGuestConfig(f)
	check := GuestCheck{}
	var xen rdm.XenSource
	var ow *checkOwners
	if host, err := s.sysfs.Read(); err != nil { // what the entries name, on demand
		pre = append(pre, Finding{Level: "warn", Subject: "host", Message: fmt.Sprintf("host PCI devices not read (%v): devices and groups not checked", err)})
	} else if s.host, check.Host = host, host; s.openToolstack() == nil {
		pre = append(pre, Finding{Level: "warn", Subject: "owners", Message: fmt.Sprintf("%v: device owners are read from sysfs drivers only", s.tsErr)})
	} else {
		if !src.NoXen {
			xen = s.ts
		}
		ow = &checkOwners{of: Owners(s.ts, host)}
		check.Owner = ow.owner
	}
	if g.Type == xl.DomainTypeHVM {
		var bdfs []xl.PciBdf
		for _, e := range g.Entries {
			if e.Err == nil && e.Dev.VfuncMask != 0 {
				bdfs = append(bdfs, e.Dev.PciBdf)
			}
		}
		if check.Regions, rep.Notes, err = s.finder(src, xen).Regions(bdfs); err != nil {
			return rep, err
		}
	}
	rep.GuestReport = check.CheckGuestConfig(g, pre)
	if ow != nil && ow.err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("cannot ask libxl which domain holds which device: %v", ow.err))
	}
	return rep, nil
}

// RdmGuestFile reads the HVM guest of the xl.cfg at path as xl 4.17 does,
// for the reserved-memory check; what the file says that xl misreads is
// in the warnings. A guest of another type is ErrBadRequest.
func RdmGuestFile(path string) (rdm.Guest, []string, error) {
	f, err := xlcfg.Load(path)
	if err != nil {
		return rdm.Guest{}, nil, err
	}
	gc, findings := ReadGuestConfig(f)
	var warnings []string
	for _, fd := range findings {
		warnings = append(warnings, fd.Subject+": "+fd.Message)
	}
	for _, e := range gc.Entries {
		if e.Err != nil {
			return rdm.Guest{}, warnings, e.Err
		}
	}
	if gc.Type != xl.DomainTypeHVM {
		return rdm.Guest{}, warnings, badRequestf("%s: type %s: reserved device memory only matters to HVM guests", path, gc.Type)
	}
	return gc.RdmGuest(), warnings, nil
}
