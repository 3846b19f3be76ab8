package xl

import (
	"encoding/json"
	"fmt"
)

// devicePciJSON is DevicePci under libxl_device_pci's own field names, so
// scripts can read xlpt's output with the names they know from libxl.
type devicePciJSON struct {
	Domain       uint16  `json:"domain"`
	Bus          uint8   `json:"bus"`
	Dev          uint8   `json:"dev"`
	Func         uint8   `json:"func"`
	Vdevfn       uint32  `json:"vdevfn"`
	VfuncMask    uint32  `json:"vfunc_mask"`
	Msitranslate bool    `json:"msitranslate"`
	PowerMgmt    bool    `json:"power_mgmt"`
	Permissive   bool    `json:"permissive"`
	Seize        bool    `json:"seize"`
	RdmPolicy    *string `json:"rdm_policy"` // null: unset
	Name         *string `json:"name"`       // null: unset
}

func (d DevicePci) MarshalJSON() ([]byte, error) {
	j := devicePciJSON{Domain: d.Domain, Bus: d.Bus, Dev: d.Dev, Func: d.Func,
		Vdevfn: d.Vdevfn, VfuncMask: d.VfuncMask, Msitranslate: d.Msitranslate,
		PowerMgmt: d.PowerMgmt, Permissive: d.Permissive, Seize: d.Seize}
	if d.RdmPolicy == RdmPolicyStrict || d.RdmPolicy == RdmPolicyRelaxed {
		s := d.RdmPolicy.String()
		j.RdmPolicy = &s
	}
	if d.Name != "" {
		j.Name = &d.Name
	}
	return json.Marshal(j)
}

func (d *DevicePci) UnmarshalJSON(b []byte) error {
	var j devicePciJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = DevicePci{PciBdf: PciBdf{Domain: j.Domain, Bus: j.Bus, Dev: j.Dev, Func: j.Func},
		Vdevfn: j.Vdevfn, VfuncMask: j.VfuncMask, Msitranslate: j.Msitranslate,
		PowerMgmt: j.PowerMgmt, Permissive: j.Permissive, Seize: j.Seize, RdmPolicy: RdmPolicyInvalid}
	if j.RdmPolicy != nil {
		switch *j.RdmPolicy {
		case "strict":
			d.RdmPolicy = RdmPolicyStrict
		case "relaxed":
			d.RdmPolicy = RdmPolicyRelaxed
		default:
			return fmt.Errorf("rdm_policy %q: want \"strict\", \"relaxed\" or null", *j.RdmPolicy)
		}
	}
	if j.Name != nil {
		d.Name = *j.Name
	}
	return nil
}

// MarshalText makes PciBdf print as 0000:01:00.0 in JSON and keys.
func (b PciBdf) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads a BDF written by MarshalText (or any form ParseBdf
// takes).
func (b *PciBdf) UnmarshalText(t []byte) error {
	v, all, err := ParseBdf(string(t))
	if err != nil {
		return err
	}
	if all {
		return fmt.Errorf("%q: a single function is needed here, not *", t)
	}
	*b = v
	return nil
}
