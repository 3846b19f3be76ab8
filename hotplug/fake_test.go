package hotplug

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xlpt/xlpt/pcibind/pcitest"

	"github.com/xlpt/xlpt/xl"
)

// fakeToolstack models the parts of libxl 4.17 hotplug relies on:
// assignable = on pciback and in no domain; pci_add refuses
// non-assignable devices and occupied HVM slots; a failed HVM add leaves
// the QEMU device behind (so a retry in that slot fails) until the device
// model is cleaned; faults can be injected per call. Safe for concurrent
// use, as libxl_ctx is: every call holds mu, except an HVM add's or
// remove's wait for QEMU and the guest (qemuWait), where libxl releases
// its ctx lock too.
type fakeToolstack struct {
	mu *sync.Mutex // a pointer: tests copy the fake's state (clone)
	// qemuWait, when set, is an HVM add's or remove's wait for QEMU and
	// the guest ("add" or "remove", the device), called without mu.
	qemuWait func(op string, b xl.PciBdf)
	// pvHold is how long a PV add or remove holds mu (libxl holds its ctx
	// lock through pciback's reconfiguration).
	pvHold time.Duration
	// inFlight and mostInFlight count the PCI adds, removes and
	// destroys xlpt has made at once.
	inFlight, mostInFlight int32 // atomic
	// asked counts the queries libxl answers at a cost: "config", "assignable list", "domains".
	asked map[string]int

	domains       map[uint32]*fakeDomain
	pciback       map[xl.PciBdf]string // bdf -> name ("" none); the assignable pool
	direct        bool                 // cap_hvm_directio
	freeKiB       uint64               // physinfo's free memory
	cmdline       string               // Xen's command line
	fail          map[string]error     // "add 0000:01:00.0" -> error
	calls         []string
	staleInDM     map[uint32]map[uint8]xl.PciBdf // domid -> guest devfn -> QEMU's device (listed or leftover)
	removeTimeout bool
	xen           [2]int // PhysInfo's Xen version (0.0: unknown)

	// What libxl keeps beyond its lists, for recovery tests.
	xsDomid      map[xl.PciBdf]uint32 // /libxl/pci/BDF/domid
	xsDriverPath map[xl.PciBdf]string // /libxl/pci/BDF/driver_path
	xenOwner     map[xl.PciBdf]uint32 // Xen's assignment to a guest
	quarantined  map[xl.PciBdf]bool
	k            *pcitest.Kernel // when set, libxl's sysfs writes go here
	crash        func(step string)
}

type fakeDomain struct {
	info   xl.DomainInfo
	cfg    xl.DomainConfig
	devs   []xl.DevicePci
	paused int // Xen's pause count
	// logDirty: left in log-dirty mode by a migration whose save helper
	// died; Xen refuses every assignment (EXDEV).
	logDirty bool
}

func newFake() *fakeToolstack {
	return &fakeToolstack{mu: &sync.Mutex{}, asked: map[string]int{}, domains: map[uint32]*fakeDomain{}, pciback: map[xl.PciBdf]string{},
		direct: true, fail: map[string]error{}, staleInDM: map[uint32]map[uint8]xl.PciBdf{},
		xsDomid: map[xl.PciBdf]uint32{}, xsDriverPath: map[xl.PciBdf]string{}, xenOwner: map[xl.PciBdf]uint32{},
		quarantined: map[xl.PciBdf]bool{}}
}

func (f *fakeToolstack) addDomain(id uint32, name string, t xl.DomainType) *fakeDomain {
	d := &fakeDomain{
		info: xl.DomainInfo{Domid: id, Name: name, Type: t, State: xl.StateBlocked, CurrentMemKB: 262144, MaxMemKB: 262144},
		cfg:  xl.DomainConfig{Name: name, Type: t, Passthrough: xl.PassthroughEnabled, TargetMemKB: 262144, MaxMemKB: 262144},
	}
	f.domains[id] = d
	return d
}

func (f *fakeToolstack) injected(call string) error {
	f.calls = append(f.calls, call)
	return f.fail[call]
}

func (f *fakeToolstack) DomainQualifierToID(q string) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, err := strconv.ParseUint(q, 10, 32); err == nil {
		if _, ok := f.domains[uint32(id)]; ok {
			return uint32(id), nil
		}
		return 0, xl.ErrDomainNotFound
	}
	for id, d := range f.domains {
		if d.info.Name == q {
			return id, nil
		}
	}
	return 0, xl.ErrInval
}

func (f *fakeToolstack) DomainInfo(id uint32) (xl.DomainInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.domains[id]
	if !ok {
		return xl.DomainInfo{}, xl.ErrDomainNotFound
	}
	info := d.info
	if d.paused > 0 {
		info.State |= xl.StatePaused
	}
	return info, nil
}

func (f *fakeToolstack) DomainConfig(id uint32) (xl.DomainConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked["config"]++
	d, ok := f.domains[id]
	if !ok {
		return xl.DomainConfig{}, xl.ErrDomainNotFound
	}
	return d.cfg, nil
}

func (f *fakeToolstack) ListDomains() ([]xl.DomainInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked["domains"]++
	out := []xl.DomainInfo{{Domid: 0, Name: "Domain-0"}}
	for _, d := range f.domains {
		out = append(out, d.info)
	}
	return out, nil
}

// The fake host has no reserved device memory (tests give regions as
// rmrr= to the rdm check's finder).
func (f *fakeToolstack) ReservedDeviceMemory() ([]xl.RdmRegion, error) { return nil, nil }
func (f *fakeToolstack) DeviceReservedMemory(xl.PciBdf) ([]xl.RdmRegion, error) {
	return nil, nil
}

func (f *fakeToolstack) PhysInfo() (xl.PhysInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return xl.PhysInfo{CapHVM: true, CapPV: true, CapHVMDirectIO: f.direct, XenMajor: f.xen[0], XenMinor: f.xen[1],
		FreePages: f.freeKiB / 4, XenCommandline: f.cmdline}, nil
}

func (f *fakeToolstack) DomainPause(id uint32) error {
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	d.paused++
	f.calls = append(f.calls, fmt.Sprintf("pause %d", id))
	f.point(fmt.Sprintf("paused domain %d", id))
	return nil
}

func (f *fakeToolstack) DomainUnpause(id uint32) error {
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	if d.paused == 0 {
		return fmt.Errorf("domain %d is not paused: %w", id, xl.ErrFail)
	}
	d.paused--
	f.calls = append(f.calls, fmt.Sprintf("unpause %d", id))
	f.point(fmt.Sprintf("unpaused domain %d", id))
	return nil
}

func (f *fakeToolstack) PciAdd(id uint32, dev xl.DevicePci) error {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected("add " + dev.PciBdf.String()); err != nil {
		if d := f.domains[id]; d != nil && d.info.Type == xl.DomainTypeHVM && dev.VSlot() != 0 {
			// libxl 4.17: QEMU keeps the device after a failure later in the add.
			if f.staleInDM[id] == nil {
				f.staleInDM[id] = map[uint8]xl.PciBdf{}
			}
			f.staleInDM[id][uint8(dev.Vdevfn)] = dev.PciBdf
		}
		return err
	}
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	if d.cfg.Passthrough == xl.PassthroughDisabled {
		// Xen gave the domain no IOMMU context: libxl's first check
		// (xc_test_assign_device) fails before any change.
		return fmt.Errorf("PCI device %s cannot be assigned - no IOMMU?: %w", dev.PciBdf, xl.ErrFail)
	}
	if !f.assignable(dev.PciBdf) {
		return fmt.Errorf("PCI device %s is not assignable: %w", dev.PciBdf, xl.ErrFail)
	}
	// libxl__device_pci_setdefault: an unset rdm_policy becomes strict,
	// and the domain's list says so.
	if dev.RdmPolicy != xl.RdmPolicyRelaxed {
		dev.RdmPolicy = xl.RdmPolicyStrict
	}
	hvm := d.info.Type == xl.DomainTypeHVM
	if hvm {
		f.waitUnlocked("add", dev.PciBdf)
		if err := f.qemuSlot(id, d, &dev); err != nil {
			return err
		}
	} else {
		dev.Vdevfn = 0
		f.holdPV(id)
	}
	// libxl 4.17's order: its own record, QEMU (do_pci_add), Xen's
	// assignment (pci_add_dm_done), then the backend and the domain's
	// device list.
	f.xsDomid[dev.PciBdf] = id
	f.point("add: /libxl/pci domid")
	if hvm {
		if f.staleInDM[id] == nil {
			f.staleInDM[id] = map[uint8]xl.PciBdf{}
		}
		f.staleInDM[id][uint8(dev.Vdevfn)] = dev.PciBdf
		f.point("add: qemu device_add")
		if d.cfg.PoD() {
			// Xen refuses the assignment while populate-on-demand is
			// active; libxl drops its record, QEMU keeps the device.
			delete(f.xsDomid, dev.PciBdf)
			return fmt.Errorf("xc_assign_device failed: %w", xl.ErrFail)
		}
	}
	if d.logDirty {
		// arch_iommu_use_permitted: no assignment in log-dirty mode.
		delete(f.xsDomid, dev.PciBdf)
		return fmt.Errorf("xc_assign_device failed: invalid cross-device link: %w", xl.ErrFail)
	}
	f.xenOwner[dev.PciBdf] = id
	delete(f.quarantined, dev.PciBdf)
	f.point("add: xc_assign_device")
	d.devs = append(d.devs, dev)
	f.point("add: xenstore backend + config")
	return nil
}

// enter counts a PCI operation in flight until the returned func.
func (f *fakeToolstack) enter() func() {
	n := atomic.AddInt32(&f.inFlight, 1)
	for {
		most := atomic.LoadInt32(&f.mostInFlight)
		if n <= most || atomic.CompareAndSwapInt32(&f.mostInFlight, most, n) {
			break
		}
	}
	return func() { atomic.AddInt32(&f.inFlight, -1) }
}

// holdPV is a PV add's or remove's time in libxl, its lock held.
func (f *fakeToolstack) holdPV(id uint32) {
	if d := f.domains[id]; d != nil && d.info.Type != xl.DomainTypeHVM && f.pvHold > 0 {
		time.Sleep(f.pvHold)
	}
}

// waitUnlocked is an HVM add's or remove's wait for QEMU and the guest:
// mu is released meanwhile, as libxl releases its ctx lock.
func (f *fakeToolstack) waitUnlocked(op string, b xl.PciBdf) {
	if f.qemuWait == nil {
		return
	}
	f.mu.Unlock()
	defer f.mu.Lock()
	f.qemuWait(op, b)
}

// qemuSlot checks the HVM slot as QEMU would and lets QEMU choose when
// none is given.
func (f *fakeToolstack) qemuSlot(id uint32, d *fakeDomain, dev *xl.DevicePci) error {
	slot := dev.VSlot()
	for s, b := range f.staleInDM[id] {
		if b == dev.PciBdf {
			return fmt.Errorf("Duplicate device ID 'pci-pt-%02x_%02x.%x': %w", b.Bus, b.Dev, b.Func, xl.ErrFail)
		}
		if slot != 0 && s>>3 == slot && s&7 == dev.VFunc() && !f.listed(id, b) {
			return fmt.Errorf("slot %d function 0 not available for xen-pci-passthrough, in use by xen-pci-passthrough,id=pci-pt-%02x_%02x.%x: %w",
				slot, b.Bus, b.Dev, b.Func, xl.ErrFail)
		}
	}
	for _, x := range d.devs {
		if slot != 0 && x.VSlot() == slot && dev.VFunc() == x.VFunc() {
			return fmt.Errorf("qemu: slot %x function %x not available: %w", slot, dev.VFunc(), xl.ErrFail)
		}
	}
	if slot == 0 { // qemu picks the first free slot from 3 on
		used := map[uint8]bool{}
		for s := range f.staleInDM[id] {
			used[s>>3] = true
		}
		for s := uint8(3); s < 32; s++ {
			if !used[s] {
				dev.Vdevfn = xl.Vdevfn(s, 0)
				break
			}
		}
	}
	return nil
}

// place puts dev in domain id as a finished libxl add leaves it.
func (f *fakeToolstack) place(id uint32, dev xl.DevicePci) {
	d := f.domains[id]
	d.devs = append(d.devs, dev)
	f.xsDomid[dev.PciBdf], f.xenOwner[dev.PciBdf] = id, id
	if d.info.Type == xl.DomainTypeHVM {
		if f.staleInDM[id] == nil {
			f.staleInDM[id] = map[uint8]xl.PciBdf{}
		}
		f.staleInDM[id][uint8(dev.Vdevfn)] = dev.PciBdf
	}
}

func (f *fakeToolstack) listed(id uint32, b xl.PciBdf) bool {
	if d := f.domains[id]; d != nil {
		for _, x := range d.devs {
			if x.PciBdf == b {
				return true
			}
		}
	}
	return false
}

func (f *fakeToolstack) inDM(id uint32, b xl.PciBdf) bool {
	for _, x := range f.staleInDM[id] {
		if x == b {
			return true
		}
	}
	return false
}

// ejectedLate models a detach whose eject QEMU finished after libxl gave
// up: QEMU no longer has b, libxl still lists it.
func (f *fakeToolstack) ejectedLate(id uint32, b xl.PciBdf) {
	for s, x := range f.staleInDM[id] {
		if x == b {
			delete(f.staleInDM[id], s)
		}
	}
}

func (f *fakeToolstack) remove(id uint32, dev xl.DevicePci, force bool) error {
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	if f.removeTimeout && !force {
		return fmt.Errorf("timed out waiting for DM to remove: %w", xl.ErrTimedOut)
	}
	i := -1
	for j, x := range d.devs {
		if x.PciBdf == dev.PciBdf {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("PCI device not attached to this domain: %w", xl.ErrInval)
	}
	b := dev.PciBdf
	if d.info.Type == xl.DomainTypeHVM && !force && !f.inDM(id, b) {
		// libxl's QMP device_del of a device QEMU lacks.
		return fmt.Errorf("Device 'pci-pt-%02x_%02x.%d' not found: %w", b.Bus, b.Dev, b.Func, xl.ErrQMPDeviceNotFound)
	}
	f.holdPV(id)
	if d.info.Type == xl.DomainTypeHVM {
		f.waitUnlocked("remove", b)
		// A guest that does not release the device: libxl's forced
		// remove gives up on QEMU, which keeps it (until the guest's
		// eject, ejectedLate).
		if !(force && f.removeTimeout) {
			for s, x := range f.staleInDM[id] {
				if x == b {
					delete(f.staleInDM[id], s)
				}
			}
		}
		f.point("remove: qemu device_del")
	}
	delete(f.xenOwner, b)
	f.quarantined[b] = true
	f.point("remove: xc_deassign_device")
	for j, x := range d.devs { // others may have gone meanwhile
		if x.PciBdf == b {
			i = j
		}
	}
	d.devs = append(d.devs[:i], d.devs[i+1:]...)
	f.point("remove: xenstore backend + config")
	delete(f.xsDomid, b)
	f.point("remove: /libxl/pci domid")
	return nil
}

func (f *fakeToolstack) PciRemove(id uint32, dev xl.DevicePci) error {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected("remove " + dev.PciBdf.String()); err != nil {
		return err
	}
	return f.remove(id, dev, false)
}

func (f *fakeToolstack) PciDestroy(id uint32, dev xl.DevicePci) error {
	defer f.enter()()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected("destroy " + dev.PciBdf.String()); err != nil {
		return err
	}
	return f.remove(id, dev, true)
}

func (f *fakeToolstack) PciList(id uint32) ([]xl.DevicePci, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.domains[id]
	if !ok {
		return nil, xl.ErrDomainNotFound
	}
	return append([]xl.DevicePci(nil), d.devs...), nil
}

// PciAssignableAdd is libxl 4.17's: unbind from the dom0 driver, record
// that driver, new_slot and bind to pciback, quarantine. A device
// already on pciback is only quarantined.
func (f *fakeToolstack) PciAssignableAdd(dev xl.DevicePci, rebind bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected("assignable-add " + dev.PciBdf.String()); err != nil {
		return err
	}
	b := dev.PciBdf
	if _, held := f.xenOwner[b]; held {
		return fmt.Errorf("failed to quarantine %s: %w", b, xl.ErrFail)
	}
	if !f.onPciback(b) {
		// Its name first: with the simulated kernel, the list shows it
		// once the kernel has it on pciback, as libxl's does.
		f.pciback[b] = dev.Name
		if f.k != nil {
			cur := f.k.Driver(b)
			if cur != "" {
				f.write("bus/pci/drivers/"+cur+"/unbind", b.String())
				if rebind {
					f.xsDriverPath[b] = "/sys/bus/pci/drivers/" + cur
					f.point("assignable-add: driver_path")
				}
			}
			f.write("bus/pci/drivers/pciback/new_slot", b.String())
			f.write("bus/pci/drivers/pciback/bind", b.String())
		}
		f.pciback[b] = dev.Name
	}
	f.quarantined[b] = true
	f.point("assignable-add: quarantine")
	return nil
}

// PciAssignableRemove is libxl 4.17's: de-quarantine (failing when a
// guest holds the device, or it is not quarantined), unbind from pciback
// and drop the slot, rebind the recorded driver.
func (f *fakeToolstack) PciAssignableRemove(dev xl.DevicePci, rebind bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.injected("assignable-remove " + dev.PciBdf.String()); err != nil {
		return err
	}
	b := dev.PciBdf
	if _, held := f.xenOwner[b]; held || !f.quarantined[b] {
		return fmt.Errorf("failed to de-quarantine %s: %w", b, xl.ErrFail)
	}
	delete(f.quarantined, b)
	f.point("assignable-remove: de-quarantine")
	if f.k != nil && f.k.Driver(b) == "pciback" {
		f.write("bus/pci/drivers/pciback/unbind", b.String())
		f.write("bus/pci/drivers/pciback/remove_slot", b.String())
	}
	delete(f.pciback, b)
	if p := f.xsDriverPath[b]; rebind && p != "" && f.k != nil {
		f.write("bus/pci/drivers/"+path.Base(p)+"/bind", b.String())
	}
	delete(f.xsDriverPath, b)
	f.point("assignable-remove: driver_path removed")
	return nil
}

func (f *fakeToolstack) PciAssignableList() ([]xl.DevicePci, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked["assignable list"]++
	var out []xl.DevicePci
	for b, name := range f.pciback {
		if !f.assignable(b) {
			continue
		}
		d := xl.NewDevicePci()
		d.PciBdf, d.Name, d.VfuncMask = b, name, 1
		out = append(out, d)
	}
	return out, nil
}

// assignable is libxl's test: bound to pciback, and no /libxl/pci domid.
func (f *fakeToolstack) assignable(b xl.PciBdf) bool {
	_, used := f.xsDomid[b]
	return f.onPciback(b) && !used
}

func (f *fakeToolstack) onPciback(b xl.PciBdf) bool {
	if f.k != nil {
		return f.k.Driver(b) == "pciback"
	}
	_, on := f.pciback[b]
	return on
}

func (f *fakeToolstack) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.xsDomid[b]
	return id, ok, nil
}

func (f *fakeToolstack) PciXsEntries() ([]xl.PciXsEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[xl.PciBdf]*xl.PciXsEntry{}
	get := func(b xl.PciBdf) *xl.PciXsEntry {
		if m[b] == nil {
			m[b] = &xl.PciXsEntry{BDF: b}
		}
		return m[b]
	}
	for b, id := range f.xsDomid {
		e := get(b)
		e.Domid, e.HasDomid = id, true
	}
	for b, p := range f.xsDriverPath {
		get(b).DriverPath = p
	}
	var out []xl.PciXsEntry
	for _, e := range m {
		out = append(out, *e)
	}
	return out, nil
}

func (f *fakeToolstack) PciXsRemove(b xl.PciBdf, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "xs-rm "+key+" "+b.String())
	switch key {
	case "domid":
		delete(f.xsDomid, b)
	case "driver_path":
		delete(f.xsDriverPath, b)
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

func (f *fakeToolstack) PciXsSetDriverPath(b xl.PciBdf, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "xs-write driver_path "+b.String())
	f.xsDriverPath[b] = p
	return nil
}

func (f *fakeToolstack) PciXenAssigned(b xl.PciBdf) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.xenOwner[b]
	return ok, nil
}

func (f *fakeToolstack) PciXenDeassign(id uint32, b xl.PciBdf) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "xc-deassign "+b.String())
	if f.xenOwner[b] != id {
		return fmt.Errorf("xc_deassign_device: %s is not assigned to domain %d: %w", b, id, xl.ErrInval)
	}
	delete(f.xenOwner, b)
	f.quarantined[b] = true
	return nil
}

// point is one of libxl's internal steps done: a test's crash lands here.
func (f *fakeToolstack) point(what string) {
	if f.crash != nil {
		f.crash(what)
	}
}

// write is a sysfs write libxl makes, to the simulated kernel.
func (f *fakeToolstack) write(rel, value string) {
	if err := f.k.WriteAttr(filepath.Join(f.k.Root, rel), value); err != nil {
		panic(fmt.Sprintf("fake libxl: write %s %s: %v", value, rel, err))
	}
	f.point("sysfs " + rel)
}

// fakeDM removes stale devices from the fake's device model.
type fakeDM struct{ f *fakeToolstack }

func (m fakeDM) RemoveStale(id uint32, b xl.PciBdf) error {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	if err := m.f.injected("dm-remove " + b.String()); err != nil {
		return err
	}
	// QEMU's device_del waits for the guest's eject: a paused guest
	// makes none.
	if d := m.f.domains[id]; d != nil && d.paused > 0 && len(m.f.staleInDM[id]) > 0 {
		return fmt.Errorf("QEMU still has the device after 10s: the guest did not acknowledge its removal (domain %d is paused)", id)
	}
	for slot, x := range m.f.staleInDM[id] {
		if sameFunc(x, b) && !m.f.listed(id, x) { // QEMU's device_del by id: no segment
			delete(m.f.staleInDM[id], slot)
		}
	}
	return nil
}

// Devices is what QEMU's query-pci gives: libxl's ids, which carry no
// PCI segment (pci-pt-BB_DD.F), read as segment 0.
func (m fakeDM) Devices(id uint32) ([]xl.PciBdf, error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	var out []xl.PciBdf
	for _, b := range m.f.staleInDM[id] {
		b.Domain = 0
		out = append(out, b)
	}
	return out, nil
}
