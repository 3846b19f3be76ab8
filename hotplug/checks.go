package hotplug

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

// ErrRdmConflict refuses a hot-plug that Xen would refuse, or that would
// leave guest RAM where the device does DMA.
var ErrRdmConflict = errors.New("reserved device memory conflict")

// ErrNoMSI refuses a device that cannot interrupt in any guest.
var ErrNoMSI = errors.New("device cannot raise interrupts")

// RdmCheck is the preflight for reserved device memory. libxl 4.17 does
// no RDM check on hot-plug: Xen identity-maps the device's regions into
// the running guest and, where one falls in guest RAM, refuses under
// strict (the default for hot-plug) or carries on under relaxed. xlpt
// predicts this before libxl is called, with the host's regions from src.
func RdmCheck(src *rdm.Finder) DeviceCheck {
	return func(dom Domain, dev xl.DevicePci) ([]string, error) {
		if !dom.IsHVM() {
			return nil, nil
		}
		rs, _, err := src.Regions([]xl.PciBdf{dev.PciBdf})
		if err != nil {
			return []string{fmt.Sprintf("reserved device memory of %s not checked: %v", dev.PciBdf, err)}, nil
		}
		if len(rdm.ForDevice(rs, dev.PciBdf)) == 0 {
			return nil, nil
		}
		cfg, err := dom.LoadConfig()
		if err != nil {
			return nil, fmt.Errorf("reserved device memory of %s: read the configuration of %s: %w", dev.PciBdf, dom, err)
		}
		g := rdm.GuestFromConfig(cfg, nil, cfg.VideoMemKB/1024, cfg.MMIOHoleKB/1024, true)
		built, err := rdm.Check(g, rs)
		if err != nil {
			return nil, fmt.Errorf("reserved device memory of %s: %w", dev.PciBdf, err)
		}
		run := built.Running()
		run.Domain = fmt.Sprintf("d%d", dom.Domid)
		h := rdm.CheckHotplug(run, dev, rs)
		if !h.Refused {
			return h.Warnings, nil
		}
		var where []string
		for _, rc := range h.Regions {
			if rc.Outcome == rdm.Refused {
				where = append(where, rc.Region.String())
			}
		}
		return h.Warnings, fmt.Errorf("%w: %s has reserved memory %s inside %s's RAM (%s); with rdm_policy=%s (%s) Xen refuses the identity map: %s. "+
			"Attach it with rdm_policy=relaxed only if its DMA there is harmless, or give the guest the device at creation (pci=[...] with rdm=\"strategy=host\") so its memory map reserves the region",
			ErrRdmConflict, dev.PciBdf, strings.Join(where, ", "), dom, run.Layout, h.Policy, h.PolicyFrom, strings.Join(h.Errors, "; "))
	}
}

// MsiCheck warns about msitranslate settings that will not take effect
// and refuses a virtual function without MSI or MSI-X.
func MsiCheck(host *pcibind.Host) DeviceCheck {
	return func(dom Domain, dev xl.DevicePci) ([]string, error) {
		d, ok := host.Device(dev.PciBdf)
		if !ok {
			return nil, nil
		}
		in := msi.TranslateInput{HVM: dom.IsHVM(), Caps: msi.Decode(d.Config), IsVF: d.IsVF()}
		if dev.Msitranslate {
			on := true
			in.Device = &on
		}
		if dom.IsHVM() && dev.Msitranslate {
			// The device model decides only what msitranslate=1 does:
			// the configuration is read for that alone.
			cfg, err := dom.LoadConfig()
			if err != nil {
				return nil, fmt.Errorf("%s: msitranslate: read the configuration of %s: %w", dev.PciBdf, dom, err)
			}
			if cfg.DeviceModelVersion == xl.DeviceModelQemuTraditional {
				in.DeviceModel = msi.QemuXenTraditional
			}
		}
		t := msi.Resolve(in)
		if len(t.Problems) > 0 {
			return t.Warnings, fmt.Errorf("%w: %s: %s", ErrNoMSI, dev.PciBdf, strings.Join(t.Problems, "; "))
		}
		var ws []string
		for _, w := range t.Warnings {
			ws = append(ws, fmt.Sprintf("%s: %s", dev.PciBdf, w))
		}
		return ws, nil
	}
}

// RegionSources say where reserved regions come from: Xen (libxenctrl)
// and the firmware's ACPI DMAR table unless left out, and more in Xen's
// rmrr= syntax.
type RegionSources struct {
	NoXen      bool     // do not ask Xen
	NoDMAR     bool     // do not read the DMAR table
	RMRR       []string // regions in rmrr= syntax
	XenCmdline string   // Xen's command line, for the rmrr= options on it
}

// Regions gathers the host's reserved regions that concern devices
// (every region when none is named), with notes on the sources that
// could not be read (Xen on a host where libxl cannot be opened).
func (s *Service) Regions(src RegionSources, devices []xl.PciBdf) ([]rdm.Region, []string, error) {
	var notes []string
	var xen rdm.XenSource
	if !src.NoXen {
		if ts, err := s.toolstack(); err != nil {
			notes = append(notes, fmt.Sprintf("regions from Xen not read: %v", err))
		} else {
			xen = ts
		}
	}
	regions, more, err := s.finder(src, xen).Regions(devices)
	if err != nil {
		return nil, nil, err
	}
	return regions, append(notes, more...), nil
}

// finder gathers regions from src and xen, under the host's sysfs.
func (s *Service) finder(src RegionSources, xen rdm.XenSource) *rdm.Finder {
	f := &rdm.Finder{NoDMAR: src.NoDMAR, RMRR: src.RMRR, XenCmdline: src.XenCmdline, Xen: xen}
	if s.sysfs != nil {
		f.SysfsRoot = s.sysfs.Root()
	}
	return f
}

// ListRegions is the host's reserved regions from src, only those of the
// devices named when some are, with notes on the sources not read.
func (s *Service) ListRegions(src RegionSources, devices []xl.PciBdf) ([]rdm.Region, []string, error) {
	regions, notes, err := s.Regions(src, devices)
	if err == nil && len(devices) > 0 {
		regions = rdm.OfDevices(regions, devices)
	}
	return regions, notes, err
}

// CheckRdm predicts what libxl does with the host's reserved regions (from
// src) when it builds the HVM guest g: fits, relocates low memory, or a
// conflict refused under strict and ignored under relaxed. A guest whose
// memory layout cannot be built is ErrBadRequest.
func (s *Service) CheckRdm(g rdm.Guest, src RegionSources) (rdm.Result, []string, error) {
	var bdfs []xl.PciBdf
	for _, d := range g.Devices {
		bdfs = append(bdfs, d.PciBdf)
	}
	regions, notes, err := s.Regions(src, bdfs)
	if err != nil {
		return rdm.Result{}, notes, err
	}
	res, err := rdm.Check(g, regions)
	if err != nil {
		return res, notes, &badRequest{err.Error()}
	}
	return res, notes, nil
}
