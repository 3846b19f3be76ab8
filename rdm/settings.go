package rdm

import "github.com/xlpt/xlpt/xl"

// Settings are an HVM guest's xl.cfg keys that decide what happens to
// reserved regions, given one by one (rdm check's flags) rather than in
// a file.
type Settings struct {
	MemoryMiB, MaxMemMiB, MMIOHoleMiB, VideoMiB, MemBoundaryMiB uint64
	HAP                                                         bool
	// Rdm is rdm=, when RdmSet.
	Rdm    string
	RdmSet bool
	// AsXL reads rdm= as xl 4.17 does (it drops every valid policy=);
	// else as written, as a toolstack that passes it intact.
	AsXL bool
	// Devices are the pci= entries, parsed.
	Devices []xl.DevicePci
}

// Guest builds the guest as xl does from the same keys, with warnings on
// what xl 4.17 makes of rdm=. Its error is rdm='s (a *SettingError).
func (s Settings) Guest() (Guest, []string, error) {
	var warnings []string
	g := Guest{MemoryMiB: s.MemoryMiB, MaxMemMiB: s.MaxMemMiB, MMIOHoleMiB: s.MMIOHoleMiB, VideoMiB: s.VideoMiB,
		HAP: s.HAP, MemBoundaryMiB: s.MemBoundaryMiB,
		Rdm: xl.RdmReserve{Strategy: xl.RdmStrategyIgnore, Policy: xl.RdmPolicyInvalid}}
	if s.RdmSet {
		set, err := ParseRdm(s.Rdm)
		if err != nil {
			return g, nil, err
		}
		g.Rdm = set.Reserve
		if w := Xl417Warning(s.Rdm); w != "" {
			warnings = append(warnings, w)
			if x := Xl417Rdm(s.Rdm); s.AsXL && !x.Applied {
				g.Rdm = xl.RdmReserve{Strategy: x.Strategy, Policy: x.Policy}
				warnings = append(warnings, "predicting xl create, which drops the setting (--as libxl for the setting as written)")
			} else if s.AsXL && x.PolicyUninit {
				warnings = append(warnings, "predicting with the policy as written: xl's actual value is undefined")
			}
		}
	}
	for _, d := range s.Devices {
		// xl copies the global policy into every entry before parsing it;
		// an rdm_policy= in the spec replaces it.
		if d.RdmPolicy == xl.RdmPolicyInvalid {
			d.RdmPolicy = XlDevice(g.Rdm).RdmPolicy
		}
		g.Devices = append(g.Devices, d)
	}
	return g, warnings, nil
}

// EffectivePolicy is the global policy libxl applies: relaxed when
// rdm= sets none.
func (g Guest) EffectivePolicy() xl.RdmPolicy {
	if g.Rdm.Policy == xl.RdmPolicyInvalid {
		return xl.RdmPolicyRelaxed
	}
	return g.Rdm.Policy
}

// BoundaryMiB is rdm_mem_boundary as libxl applies it.
func (g Guest) BoundaryMiB() uint64 {
	if g.MemBoundaryMiB == 0 {
		return DefaultMemBoundaryMiB
	}
	return g.MemBoundaryMiB
}

// OfDevices is the regions that concern any of devs.
func OfDevices(regs []Region, devs []xl.PciBdf) []Region {
	var sel []Region
	for _, r := range regs {
		for _, b := range devs {
			if r.Has(b) {
				sel = append(sel, r)
				break
			}
		}
	}
	return sel
}
