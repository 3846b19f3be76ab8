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
	// Others are the plan's other devices of the same identity, which
	// compete for the same candidates.
	Others []string
}

func (e *AmbiguousError) Error() string {
	var cs []string
	for _, c := range e.Candidates {
		cs = append(cs, c.String())
	}
	with := ""
	if len(e.Others) > 0 {
		with = fmt.Sprintf(" for %d plan devices of that identity (also %s)", len(e.Others)+1, strings.Join(e.Others, ", "))
	}
	return fmt.Sprintf("%s %s matches %d devices on this host%s: %s; say which with --map %s=BDF",
		e.Device, e.Identity, len(cs), with, strings.Join(cs, ", "), e.Device)
}

// matcher finds the host function for each plan device still to attach,
// in two passes, so that a device's own place is never given to another
// device that merely has its identity:
//
//  1. its --map entry (the operator's word, for every device first),
//     else its own BDF when that holds a device of its identity;
//  2. the rest by identity among the free functions (in no domain) not
//     taken: only the assignable ones when there are any, since the host
//     setup hides for guests exactly the devices meant for them (dom0's
//     are the fallback, as `--assign` can make them assignable). The
//     plan devices of one identity are indistinguishable by it, so n of
//     them with exactly n candidates are paired in BDF order; more
//     candidates are ambiguous (--map decides), fewer leave the last
//     without one. A VF takes a free VF of the one matching PF.
//
// Every failure is returned, so that one refusal names every problem.
type matcher struct {
	host       *pcibind.Host
	all        []*pcibind.Device
	free       func(xl.PciBdf) bool // not held by a domain
	assignable func(xl.PciBdf) bool // on pciback and in no domain
	mapping    map[string]xl.PciBdf // --map OLD=NEW
	taken      map[xl.PciBdf]bool
}

// match finds the targets of devs, by index into devs; the errors name
// each device it found none (or no single one) for.
func (m *matcher) match(devs []PlanDevice) (map[int]xl.PciBdf, []error) {
	got, _, errs := m.matchHow(devs)
	return got, errs
}

// matchHow is match, saying also how each target was found (migrate
// check reports it). Each error is a *DeviceProblem.
func (m *matcher) matchHow(devs []PlanDevice) (map[int]xl.PciBdf, map[int]MatchHow, []error) {
	got := map[int]xl.PciBdf{}
	rest, errs := m.pass1(devs, got)
	// Everything pass 1 found was --map's or the device's own BDF.
	how := map[int]MatchHow{}
	for i := range got {
		how[i] = MatchSameBDF
		if _, ok := m.mapping[devs[i].BDF]; ok {
			how[i] = MatchMap
		}
	}
	var group []int
	for _, i := range rest {
		if devs[i].Identity.PF == nil {
			group = append(group, i)
			continue
		}
		b, err := m.findVF(devs[i])
		if err != nil {
			errs = append(errs, deviceProblem(devs[i].BDF, err))
			continue
		}
		got[i], how[i] = b, MatchIdentity
	}
	for _, g := range groupByIdentity(devs, group) {
		errs = append(errs, m.pair(devs, g, got)...)
		for _, i := range g {
			if _, ok := got[i]; ok {
				how[i] = MatchIdentity
			}
		}
	}
	return got, how, errs
}

// findVF finds a free VF of the one PF matching the VF's PF.
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

// pass1 gives every device with a --map entry that target, then every
// other device whose BDF holds its identity here that BDF. It returns
// the devices left for pass 2.
func (m *matcher) pass1(devs []PlanDevice, got map[int]xl.PciBdf) ([]int, []error) {
	var errs []error
	mapped := map[int]bool{}
	for i, d := range devs {
		b, ok := m.mapping[d.BDF]
		if !ok {
			continue
		}
		mapped[i] = true
		if err := m.checkMap(d, b); err != nil {
			errs = append(errs, &DeviceProblem{Device: d.BDF, Kind: ProblemMap, Err: err})
			continue
		}
		got[i] = m.take(b)
	}
	var rest []int
	for i, d := range devs {
		if mapped[i] {
			continue
		}
		if b, err := parseBDF(d.BDF); err == nil && !m.taken[b] {
			if id, err := identityOf(m.host, b); err == nil && id.matches(d.Identity) && (d.Identity.PF == nil) == (id.PF == nil) {
				got[i] = m.take(b)
				continue
			}
		}
		rest = append(rest, i)
	}
	return rest, errs
}

// checkMap refuses a --map target that is not here, not the plan
// device's model, or already another device's.
func (m *matcher) checkMap(d PlanDevice, b xl.PciBdf) error {
	hd, ok := m.host.Device(b)
	if !ok {
		return fmt.Errorf("%w: --map %s=%s: no %s on this host", ErrNoDevice, d.BDF, b, b)
	}
	if !deviceIdentity(hd).sameModel(d.Identity) {
		return fmt.Errorf("--map %s=%s: %s is %s, the plan's device is %s", d.BDF, b, b, deviceIdentity(hd), d.Identity)
	}
	if m.taken[b] {
		return fmt.Errorf("--map %s=%s: %s is already another device's target (a second --map to it, or a device already attached there)", d.BDF, b, b)
	}
	return nil
}

// groupByIdentity groups the plan devices idx (not VFs) by identity,
// each group sorted by plan BDF, the groups by their first.
func groupByIdentity(devs []PlanDevice, idx []int) [][]int {
	at := map[Identity]int{}
	var groups [][]int
	for _, i := range idx {
		k := devs[i].Identity
		k.PF, k.VFIndex = nil, nil
		j, ok := at[k]
		if !ok {
			j = len(groups)
			at[k] = j
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], i)
	}
	// A loaded plan's BDFs are valid (checkPlan), so bdf() orders them.
	before := func(a, b int) bool { return devs[a].bdf().Less(devs[b].bdf()) }
	for _, g := range groups {
		sort.SliceStable(g, func(x, y int) bool { return before(g[x], g[y]) })
	}
	sort.SliceStable(groups, func(x, y int) bool { return before(groups[x][0], groups[y][0]) })
	return groups
}

// pair matches a group of plan devices of one identity (sorted by plan
// BDF) with the candidates of that identity. Identity cannot tell the
// devices apart, so with as many candidates as devices every pairing is
// as right as another: BDF order, which is also what an operator would
// write. More candidates: which ones is the operator's call; fewer:
// the devices left over have none (the whole match fails).
func (m *matcher) pair(devs []PlanDevice, g []int, got map[int]xl.PciBdf) []error {
	cands, setAside := m.candidates(devs[g[0]].Identity)
	var errs []error
	if len(cands) > len(g) {
		for _, i := range g {
			errs = append(errs, deviceProblem(devs[i].BDF,
				&AmbiguousError{Device: devs[i].BDF, Identity: devs[i].Identity, Candidates: cands, Others: others(devs, g, i)}))
		}
		return errs
	}
	for k, i := range g {
		if k < len(cands) {
			got[i] = m.take(cands[k])
			continue
		}
		errs = append(errs, deviceProblem(devs[i].BDF, noDevice(devs[i], others(devs, g, i), cands, setAside)))
	}
	return errs
}

// candidates are the free functions not taken whose identity matches
// id, sorted by BDF: the assignable ones when there are any, the others
// then set aside (returned for the refusal to name).
func (m *matcher) candidates(id Identity) (cands, setAside []xl.PciBdf) {
	var ready, dom0 []xl.PciBdf
	for _, hd := range m.all {
		if hd.PhysFn != nil || m.taken[hd.BDF] || !m.free(hd.BDF) || !deviceIdentity(hd).matches(id) {
			continue
		}
		if m.assignable(hd.BDF) {
			ready = append(ready, hd.BDF)
		} else {
			dom0 = append(dom0, hd.BDF)
		}
	}
	sortBDFs(ready)
	sortBDFs(dom0)
	if len(ready) == 0 {
		return dom0, nil
	}
	return ready, dom0
}

// noDevice refuses a plan device no candidate is left for, saying why:
// the other plan devices of its identity took them, or the matches dom0
// holds were set aside.
func noDevice(d PlanDevice, others []string, cands, setAside []xl.PciBdf) error {
	var why string
	if len(others) > 0 {
		list, kind := "none", "free"
		if len(cands) > 0 {
			list = bdfList(cands)
		}
		if len(setAside) > 0 {
			kind = "free and assignable"
		}
		why = fmt.Sprintf(": the plan has %d devices of this identity (also %s), this host %d %s (%s)",
			len(others)+1, strings.Join(others, ", "), len(cands), kind, list)
	}
	fix := fmt.Sprintf("give one with --map %s=BDF", d.BDF)
	if len(setAside) > 0 {
		why += fmt.Sprintf("; %s match too but are not assignable", bdfList(setAside))
		fix = "make one assignable with xlpt pci-assignable-add, or " + fix
	}
	return fmt.Errorf("%w: no free device %s on this host for %s%s (%s)", ErrNoDevice, d.Identity, d.BDF, why, fix)
}

// others are the BDFs of the group's plan devices but devs[i].
func others(devs []PlanDevice, g []int, i int) []string {
	var out []string
	for _, j := range g {
		if j != i {
			out = append(out, devs[j].BDF)
		}
	}
	return out
}

func sortBDFs(bs []xl.PciBdf) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Less(bs[j]) })
}

func bdfList(bs []xl.PciBdf) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.String())
	}
	return strings.Join(s, ", ")
}

func (m *matcher) take(b xl.PciBdf) xl.PciBdf {
	m.taken[b] = true
	return b
}
