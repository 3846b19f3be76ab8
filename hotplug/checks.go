package hotplug

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

// ErrRdmConflict refuses a hot-plug that Xen would refuse, or that would
// leave guest RAM where the device does DMA.
var ErrRdmConflict = errors.New("reserved device memory conflict")

// ErrNoMSI refuses a device that cannot interrupt in any guest.
var ErrNoMSI = errors.New("device cannot raise interrupts")

// RegionSource gives the host's reserved regions that concern devices,
// with notes on sources that could not be read. *rdm.Finder satisfies it.
type RegionSource interface {
	Regions(devices []xl.PciBdf) ([]rdm.Region, []string, error)
}

// RdmCheck is the preflight for reserved device memory. libxl 4.17 does
// no RDM check on hot-plug: Xen identity-maps the device's regions into
// the running guest and, where one falls in guest RAM, refuses under
// strict (the default for hot-plug) or carries on under relaxed. xlpt
// predicts this before libxl is called, with the host's regions from src
// (an *rdm.Finder).
func RdmCheck(src RegionSource) DeviceCheck {
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
		cfg := dom.Config
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
func MsiCheck(host Host) DeviceCheck {
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
		if dom.Config.DeviceModelVersion == xl.DeviceModelQemuTraditional {
			in.DeviceModel = msi.QemuXenTraditional
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
