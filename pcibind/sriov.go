package pcibind

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"time"

	"github.com/xlpt/xlpt/internal/undo"
	"github.com/xlpt/xlpt/xl"
)

// SR-IOV sentinels callers branch on.
var (
	// ErrNotPF: the function has no sriov_totalvfs file.
	ErrNotPF = errors.New("not an SR-IOV physical function")
	// ErrVFCount: more VFs asked for than the PF has.
	ErrVFCount = errors.New("VF count out of range")
	// ErrVFsLate: the kernel accepted sriov_numvfs but the VFs did not
	// all appear in time.
	ErrVFsLate = errors.New("VFs did not appear in time")
)

// SRIOVState is a PF's SR-IOV state as sysfs shows it now, read with a
// few targeted reads (no scan).
type SRIOVState struct {
	PF xl.PciBdf `json:"bdf"`
	// ID is the PF's "vendor:device", as lspci -n prints it.
	ID       string `json:"id"`
	Driver   string `json:"driver"`
	TotalVFs int    `json:"total_vfs"`
	NumVFs   int    `json:"enabled_vfs"`
	// Offset and Stride are First VF Offset and VF Stride (the kernel's
	// sriov_offset, sriov_stride; valid while VFs are enabled or, on most
	// PFs, always).
	Offset int `json:"vf_offset"`
	Stride int `json:"vf_stride"`
	// Autoprobe is sriov_drivers_autoprobe: false means the kernel binds
	// a new VF to no driver unless its driver_override names one.
	Autoprobe bool `json:"drivers_autoprobe"`
	// VFs are the targets of virtfn0..NumVFs-1, in index order (not in
	// JSON: a report lists the VFs with what it knows of each).
	VFs []xl.PciBdf `json:"-"`
}

// SRIOVState reads a PF's state; ErrNotPF when b has no SR-IOV files.
func (s *Sysfs) SRIOVState(pf xl.PciBdf) (SRIOVState, error) {
	st := SRIOVState{PF: pf, Autoprobe: true}
	dev := "bus/pci/devices/" + pf.String()
	total, err := s.readInt(dev + "/sriov_totalvfs")
	if errors.Is(err, fs.ErrNotExist) {
		if _, err2 := s.CurrentDriver(pf); errors.Is(err2, ErrDeviceGone) {
			return st, err2
		}
		return st, fmt.Errorf("%s: %w", pf, ErrNotPF)
	}
	if err != nil {
		return st, err
	}
	st.TotalVFs = total
	vendor, device, err := s.ids(pf)
	if err != nil {
		return st, err
	}
	st.ID = fmt.Sprintf("%04x:%04x", vendor, device)
	if st.NumVFs, err = s.readInt(dev + "/sriov_numvfs"); err != nil {
		return st, err
	}
	// Older kernels lack these; 0 then means "unknown".
	st.Offset, _ = s.readInt(dev + "/sriov_offset")
	st.Stride, _ = s.readInt(dev + "/sriov_stride")
	if v, err := s.readInt(dev + "/sriov_drivers_autoprobe"); err == nil {
		st.Autoprobe = v != 0
	}
	if st.Driver, err = s.CurrentDriver(pf); err != nil {
		return st, err
	}
	for i := 0; i < st.NumVFs; i++ {
		tgt, err := s.Readlink(dev + "/virtfn" + strconv.Itoa(i))
		if err != nil {
			break
		}
		if vf, err := ParseSysfsBdf(path.Base(tgt)); err == nil {
			st.VFs = append(st.VFs, vf)
		}
	}
	return st, nil
}

func (s *Sysfs) readInt(rel string) (int, error) {
	b, err := s.ReadFile(rel)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(trim(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.Path(rel), err)
	}
	return v, nil
}

// NumVFsChange says what SetNumVFs did.
type NumVFsChange struct {
	PF          xl.PciBdf     `json:"pf"`
	From        int           `json:"from"`
	To          int           `json:"to"`
	ThroughZero bool          `json:"through_zero"` // a non-zero count was changed: 0 was written first
	Waited      time.Duration `json:"waited_ns"`    // from the write to every VF present (or gone)
	VFs         []xl.PciBdf   `json:"vfs"`
}

// SetNumVFs sets a PF's VF count the way the kernel requires: a non-zero
// count changes only through 0 (EBUSY otherwise). It then waits up to
// wait for the VFs to appear (virtfn links and bus/pci/devices entries),
// or to go. If the new count is refused after 0 was written, the old
// count is written back, so the PF is left as it was.
func (s *Sysfs) SetNumVFs(pf xl.PciBdf, n int, wait time.Duration) (ch NumVFsChange, retErr error) {
	ch = NumVFsChange{PF: pf, To: n}
	st, err := s.SRIOVState(pf)
	if err != nil {
		return ch, err
	}
	ch.From = st.NumVFs
	if n < 0 || n > st.TotalVFs {
		return ch, fmt.Errorf("%s: %w: %d asked, the PF has %d (sriov_totalvfs)", pf, ErrVFCount, n, st.TotalVFs)
	}
	if n == st.NumVFs {
		ch.VFs = st.VFs
		return ch, nil
	}
	attr := "bus/pci/devices/" + pf.String() + "/sriov_numvfs"
	var u undo.Stack
	defer u.RunOnError(&retErr, nil)
	if st.NumVFs != 0 && n != 0 {
		if err := s.writeAttr(attr, "0"); err != nil {
			return ch, fmt.Errorf("%s: disable the %d VFs before setting %d: %w", pf, st.NumVFs, n, err)
		}
		ch.ThroughZero = true
		u.Push("sriov_numvfs "+strconv.Itoa(st.NumVFs), func() error {
			return s.writeAttr(attr, strconv.Itoa(st.NumVFs))
		})
	}
	start := time.Now()
	if err := s.writeAttr(attr, strconv.Itoa(n)); err != nil {
		return ch, fmt.Errorf("%s: set %d VFs: %w", pf, n, err)
	}
	vfs, err := s.waitVFs(pf, n, wait)
	ch.Waited, ch.VFs = time.Since(start), vfs
	return ch, err
}

// waitVFs polls until the PF lists n VFs and each exists on the bus.
func (s *Sysfs) waitVFs(pf xl.PciBdf, n int, wait time.Duration) ([]xl.PciBdf, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := s.SRIOVState(pf)
		if err != nil {
			return nil, err
		}
		ok := len(st.VFs) == n
		for _, vf := range st.VFs {
			if _, err := s.CurrentDriver(vf); err != nil {
				ok = false
			}
		}
		if ok {
			return st.VFs, nil
		}
		if time.Now().After(deadline) {
			return st.VFs, fmt.Errorf("%s: %w: %d of %d after %s", pf, ErrVFsLate, len(st.VFs), n, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SetAutoprobe writes sriov_drivers_autoprobe (it affects VFs created
// afterwards).
func (s *Sysfs) SetAutoprobe(pf xl.PciBdf, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return s.writeAttr("bus/pci/devices/"+pf.String()+"/sriov_drivers_autoprobe", v)
}

// VFSlot is one VF of a PF: the BDF its SR-IOV capability gives index i
// (PF routing ID + First VF Offset + i * VF Stride), and the BDF the
// kernel's virtfn<i> link points to; they differ only on a broken host.
type VFSlot struct {
	Index    int        `json:"index"`
	BDF      xl.PciBdf  `json:"bdf"`
	Computed bool       `json:"computed"` // BDF from offset/stride (else from the link only)
	Link     *xl.PciBdf `json:"virtfn,omitempty"`
}

// Mismatch says how the computed BDF and the link disagree ("" if not).
func (v VFSlot) Mismatch() string {
	switch {
	case v.Link == nil:
		return fmt.Sprintf("no virtfn%d link", v.Index)
	case v.Computed && *v.Link != v.BDF:
		return fmt.Sprintf("virtfn%d -> %s, but offset/stride give %s", v.Index, *v.Link, v.BDF)
	}
	return ""
}

// VFSlots lists the enabled VFs of a scanned PF by index, numbering them
// from the SR-IOV capability (config space, or sriov_offset/sriov_stride
// when config space was not readable) and checking each against its
// virtfn link.
func (h *Host) VFSlots(pf xl.PciBdf) ([]VFSlot, error) {
	d, ok := h.byBDF[pf]
	if !ok {
		return nil, fmt.Errorf("%s: %w", pf, ErrDeviceGone)
	}
	if !d.IsPF() {
		return nil, fmt.Errorf("%s: %w", pf, ErrNotPF)
	}
	var cap SRIOV
	known := false
	if d.Caps.SRIOV != nil {
		cap, known = *d.Caps.SRIOV, true
	} else if h.sys != nil {
		off, err1 := h.sys.readInt("bus/pci/devices/" + pf.String() + "/sriov_offset")
		st, err2 := h.sys.readInt("bus/pci/devices/" + pf.String() + "/sriov_stride")
		if errors.Join(err1, err2) == nil {
			cap, known = SRIOV{VFOffset: uint16(off), VFStride: uint16(st)}, true
		}
	}
	out := make([]VFSlot, 0, d.NumVFs)
	for i := 0; i < d.NumVFs; i++ {
		v := VFSlot{Index: i}
		if i < len(d.VFs) {
			l := d.VFs[i]
			v.Link, v.BDF = &l, l
		}
		if known {
			if b, ok := cap.VF(pf, i); ok {
				v.BDF, v.Computed = b, true
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Identity is what a function is rather than where it sits: its vendor
// and device IDs and, for a VF, its PF and index. A recorded device is
// checked against it before anything is done to it (after a hardware
// change the same BDF may be another device), and migration finds "the
// same VF" on another host by it.
type Identity struct {
	Vendor uint16 `json:"vendor"`
	Device uint16 `json:"device"`
	// For a VF: its PF, the PF's IDs and the VF's index (virtfn<i>).
	PF       *xl.PciBdf `json:"pf,omitempty"`
	PFVendor uint16     `json:"pf_vendor,omitempty"`
	PFDevice uint16     `json:"pf_device,omitempty"`
	VFIndex  int        `json:"vf_index"`
}

// ID is "vvvv:dddd".
func (id Identity) ID() string { return fmt.Sprintf("%04x:%04x", id.Vendor, id.Device) }

func (id Identity) String() string {
	if id.PF == nil {
		return id.ID()
	}
	return fmt.Sprintf("%s, VF %d of %s (%04x:%04x)", id.ID(), id.VFIndex, id.PF, id.PFVendor, id.PFDevice)
}

// Identity reads a function's identity with targeted reads: its IDs, its
// physfn link and, for a VF, the PF's IDs and the virtfn link naming it.
func (s *Sysfs) Identity(b xl.PciBdf) (Identity, error) {
	id := Identity{VFIndex: -1}
	var err error
	if id.Vendor, id.Device, err = s.ids(b); err != nil {
		return id, err
	}
	tgt, err := s.Readlink("bus/pci/devices/" + b.String() + "/physfn")
	if errors.Is(err, fs.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return id, err
	}
	pf, err := ParseSysfsBdf(path.Base(tgt))
	if err != nil {
		return id, fmt.Errorf("%s physfn: %w", b, err)
	}
	id.PF = &pf
	if id.PFVendor, id.PFDevice, err = s.ids(pf); err != nil {
		return id, err
	}
	st, err := s.SRIOVState(pf)
	if err != nil {
		return id, err
	}
	for i, vf := range st.VFs {
		if vf == b {
			id.VFIndex = i
		}
	}
	if id.VFIndex < 0 {
		return id, fmt.Errorf("%s: its PF %s has no virtfn link to it", b, pf)
	}
	return id, nil
}

func (s *Sysfs) ids(b xl.PciBdf) (vendor, device uint16, err error) {
	dev := "bus/pci/devices/" + b.String()
	v, err := s.ReadFile(dev + "/vendor")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("%s: %w", b, ErrDeviceGone)
	}
	if err != nil {
		return 0, 0, err
	}
	d, err := s.ReadFile(dev + "/device")
	if err != nil {
		return 0, 0, err
	}
	vv, err1 := parseHex(v, 16)
	dd, err2 := parseHex(d, 16)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("%s IDs: %w", b, err)
	}
	return uint16(vv), uint16(dd), nil
}

// ProbeOverride prepares a VF whose PF has sriov_drivers_autoprobe=0 for
// a bind to driver: the kernel then probes a VF only when its
// driver_override is set (pci_device_can_probe), so pciback's bind (or
// libxl's, which writes new_slot and bind) fails with ENODEV. It writes
// driver_override=driver when needed and returns the undo, which puts the
// old override back. For any other device it does nothing.
func (s *Sysfs) ProbeOverride(b xl.PciBdf, driver string) (changed bool, undo func() error, err error) {
	nop := func() error { return nil }
	tgt, err := s.Readlink("bus/pci/devices/" + b.String() + "/physfn")
	if err != nil {
		return false, nop, nil // not a VF (or gone: the bind will say)
	}
	pf, err := ParseSysfsBdf(path.Base(tgt))
	if err != nil {
		return false, nop, nil
	}
	ap, err := s.readInt("bus/pci/devices/" + pf.String() + "/sriov_drivers_autoprobe")
	if err != nil || ap != 0 {
		return false, nop, nil
	}
	prev := s.readOverride(b)
	if prev == driver {
		return false, nop, nil
	}
	if err := s.writeAttr("bus/pci/devices/"+b.String()+"/driver_override", driver); err != nil {
		return false, nop, fmt.Errorf("%s: let %s probe the VF (its PF has sriov_drivers_autoprobe=0): %w", b, driver, err)
	}
	return true, func() error { return s.restoreOverride(b, prev) }, nil
}

// DropProbeOverride clears a driver_override that ProbeOverride set once
// the device has left driver: a VF of an autoprobe=0 PF whose override
// still names driver goes back to "no override", as it was before.
func (s *Sysfs) DropProbeOverride(b xl.PciBdf, driver string) error {
	if s.readOverride(b) != driver {
		return nil
	}
	if _, err := s.Readlink("bus/pci/devices/" + b.String() + "/physfn"); err != nil {
		return nil
	}
	if cur, err := s.CurrentDriver(b); err != nil || cur == driver {
		return err
	}
	return s.restoreOverride(b, "")
}

// VFAt is the BDF of a PF's VF index i (its virtfn<i> link): where the VF
// an Identity names is on this host.
func (s *Sysfs) VFAt(pf xl.PciBdf, i int) (xl.PciBdf, error) {
	st, err := s.SRIOVState(pf)
	if err != nil {
		return xl.PciBdf{}, err
	}
	if i < 0 || i >= len(st.VFs) {
		return xl.PciBdf{}, fmt.Errorf("%s has no VF %d (%d enabled)", pf, i, len(st.VFs))
	}
	return st.VFs[i], nil
}
