package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Identity names a device independently of where it sits, so a plan made
// on one host finds the same kind of device on another. In JSON the IDs
// are hex strings as lspci prints them ("8086", class "020000").
type Identity struct {
	Vendor    uint16
	Device    uint16
	SubVendor uint16
	SubDevice uint16
	Class     uint32
	Revision  uint8
	// DSN is the PCIe Device Serial Number, "" when the device has none.
	DSN string
	// PF and VFIndex are set for an SR-IOV virtual function: the
	// identity of its physical function and its index among the VFs.
	PF      *Identity
	VFIndex *int
}

type identityJSON struct {
	Vendor    string    `json:"vendor"`
	Device    string    `json:"device"`
	SubVendor string    `json:"subsystem_vendor"`
	SubDevice string    `json:"subsystem_device"`
	Class     string    `json:"class"`
	Revision  string    `json:"revision"`
	DSN       string    `json:"dsn,omitempty"`
	PF        *Identity `json:"pf,omitempty"`
	VFIndex   *int      `json:"vf_index,omitempty"`
}

func (id Identity) MarshalJSON() ([]byte, error) {
	return json.Marshal(identityJSON{fmt.Sprintf("%04x", id.Vendor), fmt.Sprintf("%04x", id.Device),
		fmt.Sprintf("%04x", id.SubVendor), fmt.Sprintf("%04x", id.SubDevice), fmt.Sprintf("%06x", id.Class),
		fmt.Sprintf("%02x", id.Revision), id.DSN, id.PF, id.VFIndex})
}

func (id *Identity) UnmarshalJSON(b []byte) error {
	var j identityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var errs []error
	hex := func(s, what string, bits int) uint64 {
		v, err := strconv.ParseUint(s, 16, bits)
		if err != nil {
			errs = append(errs, fmt.Errorf("identity %s %q: want hex, as lspci prints it", what, s))
		}
		return v
	}
	*id = Identity{Vendor: uint16(hex(j.Vendor, "vendor", 16)), Device: uint16(hex(j.Device, "device", 16)),
		SubVendor: uint16(hex(j.SubVendor, "subsystem_vendor", 16)), SubDevice: uint16(hex(j.SubDevice, "subsystem_device", 16)),
		Class: uint32(hex(j.Class, "class", 24)), Revision: uint8(hex(j.Revision, "revision", 8)),
		DSN: j.DSN, PF: j.PF, VFIndex: j.VFIndex}
	return errors.Join(errs...)
}

func (id Identity) String() string {
	s := fmt.Sprintf("%04x:%04x (subsystem %04x:%04x, class %06x, rev %02x", id.Vendor, id.Device, id.SubVendor, id.SubDevice, id.Class, id.Revision)
	if id.DSN != "" {
		s += ", DSN " + id.DSN
	}
	if id.PF != nil && id.VFIndex != nil {
		s += fmt.Sprintf(", VF %d of a %04x:%04x", *id.VFIndex, id.PF.Vendor, id.PF.Device)
	}
	return s + ")"
}

// sameModel compares what a model has in common: ids, class, revision.
func (id Identity) sameModel(o Identity) bool {
	return id.Vendor == o.Vendor && id.Device == o.Device && id.SubVendor == o.SubVendor &&
		id.SubDevice == o.SubDevice && id.Class == o.Class && id.Revision == o.Revision
}

// matches is sameModel plus the serial number when both have one.
func (id Identity) matches(o Identity) bool {
	return id.sameModel(o) && (id.DSN == "" || o.DSN == "" || id.DSN == o.DSN)
}

// identityOf reads a function's identity from the host's scan.
func identityOf(host *pcibind.Host, b xl.PciBdf) (Identity, error) {
	d, ok := host.Device(b)
	if !ok {
		return Identity{}, fmt.Errorf("%w: %s", ErrNoDevice, b)
	}
	id := deviceIdentity(d)
	if d.PhysFn != nil {
		pf, ok := host.Device(*d.PhysFn)
		if !ok {
			return id, fmt.Errorf("%s is a VF of %s, which is not on this host", b, d.PhysFn)
		}
		pid := deviceIdentity(pf)
		id.PF = &pid
		for i, vf := range pf.VFs {
			if vf == b {
				i := i
				id.VFIndex = &i
			}
		}
	}
	return id, nil
}

func deviceIdentity(d *pcibind.Device) Identity {
	return Identity{Vendor: d.Vendor, Device: d.Device, SubVendor: d.SubVendor, SubDevice: d.SubDevice,
		Class: d.Class, Revision: d.Revision, DSN: dsn(d.Config)}
}

// dsn reads the Device Serial Number extended capability (two dwords
// after the header), as lspci prints it.
func dsn(c pcibind.Config) string {
	off, ok := c.FindExtCap(pcibind.ExtCapDSN)
	if !ok {
		return ""
	}
	lo, ok1 := c.U32(off + 4)
	hi, ok2 := c.U32(off + 8)
	if !ok1 || !ok2 {
		return ""
	}
	v := uint64(hi)<<32 | uint64(lo)
	var parts []string
	for i := 7; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("%02x", byte(v>>(8*i))))
	}
	return strings.Join(parts, "-")
}

// AmbiguousError refuses a match with several candidates.
type AmbiguousError struct {
	Device     string // the plan's BDF
	Identity   Identity
	Candidates []xl.PciBdf
}

func (e *AmbiguousError) Error() string {
	var cs []string
	for _, c := range e.Candidates {
		cs = append(cs, c.String())
	}
	return fmt.Sprintf("%s %s matches %d devices on this host: %s; say which with --map %s=BDF",
		e.Device, e.Identity, len(cs), strings.Join(cs, ", "), e.Device)
}

// matcher finds the host function for each plan device: the same BDF
// when it holds the same model, else the one free function with the
// identity (for a VF, a free VF of the one matching PF).
type matcher struct {
	host    *pcibind.Host
	all     []*pcibind.Device
	free    func(xl.PciBdf) bool // not held by a domain
	mapping map[string]xl.PciBdf // --map OLD=NEW
	taken   map[xl.PciBdf]bool
}

func (m *matcher) find(d PlanDevice) (xl.PciBdf, error) {
	if b, ok := m.mapping[d.BDF]; ok {
		hd, ok := m.host.Device(b)
		if !ok {
			return b, fmt.Errorf("%w: --map %s=%s: no %s on this host", ErrNoDevice, d.BDF, b, b)
		}
		if !deviceIdentity(hd).sameModel(d.Identity) {
			return b, fmt.Errorf("--map %s=%s: %s is %s, the plan's device is %s", d.BDF, b, b, deviceIdentity(hd), d.Identity)
		}
		return m.take(b), nil
	}
	if b, err := parseBDF(d.BDF); err == nil && !m.taken[b] {
		if id, err := identityOf(m.host, b); err == nil && id.matches(d.Identity) && (d.Identity.PF == nil) == (id.PF == nil) {
			return m.take(b), nil
		}
	}
	if d.Identity.PF != nil {
		return m.findVF(d)
	}
	var cands []xl.PciBdf
	for _, hd := range m.all {
		if hd.PhysFn == nil && !m.taken[hd.BDF] && m.free(hd.BDF) && deviceIdentity(hd).matches(d.Identity) {
			cands = append(cands, hd.BDF)
		}
	}
	return m.pick(d, cands)
}

func (m *matcher) findVF(d PlanDevice) (xl.PciBdf, error) {
	var pfs []*pcibind.Device
	for _, hd := range m.all {
		if hd.PhysFn == nil && len(hd.VFs) > 0 && deviceIdentity(hd).matches(*d.Identity.PF) {
			pfs = append(pfs, hd)
		}
	}
	if len(pfs) > 1 {
		var bs []xl.PciBdf
		for _, pf := range pfs {
			bs = append(bs, pf.BDF)
		}
		return xl.PciBdf{}, &AmbiguousError{Device: d.BDF, Identity: *d.Identity.PF, Candidates: bs}
	}
	if len(pfs) == 0 {
		return xl.PciBdf{}, fmt.Errorf("%w: no physical function %s with VFs on this host for the VF %s (enable its VFs: echo N > sriov_numvfs)",
			ErrNoDevice, *d.Identity.PF, d.BDF)
	}
	// Any free VF of the PF will do; the same index when it is free.
	var free []xl.PciBdf
	for i, vf := range pfs[0].VFs {
		if m.taken[vf] || !m.free(vf) {
			continue
		}
		if d.Identity.VFIndex != nil && *d.Identity.VFIndex == i {
			return m.take(vf), nil
		}
		free = append(free, vf)
	}
	if len(free) == 0 {
		return xl.PciBdf{}, fmt.Errorf("%w: every VF of %s is in use (for the VF %s)", ErrNoDevice, pfs[0].BDF, d.BDF)
	}
	return m.take(free[0]), nil
}

func (m *matcher) pick(d PlanDevice, cands []xl.PciBdf) (xl.PciBdf, error) {
	switch len(cands) {
	case 1:
		return m.take(cands[0]), nil
	case 0:
		return xl.PciBdf{}, fmt.Errorf("%w: no free device %s on this host for %s (give one with --map %s=BDF)",
			ErrNoDevice, d.Identity, d.BDF, d.BDF)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Less(cands[j]) })
	return xl.PciBdf{}, &AmbiguousError{Device: d.BDF, Identity: d.Identity, Candidates: cands}
}

func (m *matcher) take(b xl.PciBdf) xl.PciBdf {
	m.taken[b] = true
	return b
}
