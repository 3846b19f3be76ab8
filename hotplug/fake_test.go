package hotplug

import (
	"fmt"
	"strconv"

	"github.com/xlpt/xlpt/xl"
)

// fakeToolstack models the parts of libxl 4.17 hotplug relies on:
// assignable = on pciback and in no domain; pci_add refuses
// non-assignable devices and occupied HVM slots; a failed HVM add leaves
// the QEMU device behind (so a retry in that slot fails) until the device
// model is cleaned; faults can be injected per call.
type fakeToolstack struct {
	domains       map[uint32]*fakeDomain
	pciback       map[xl.PciBdf]string // bdf -> name ("" none); the assignable pool
	direct        bool                 // cap_hvm_directio
	fail          map[string]error     // "add 0000:01:00.0" -> error
	calls         []string
	staleInDM     map[uint32]map[uint8]xl.PciBdf // domid -> guest slot -> leftover
	removeTimeout bool
}

type fakeDomain struct {
	info xl.DomainInfo
	cfg  xl.DomainConfig
	devs []xl.DevicePci
}

func newFake() *fakeToolstack {
	return &fakeToolstack{domains: map[uint32]*fakeDomain{}, pciback: map[xl.PciBdf]string{},
		direct: true, fail: map[string]error{}, staleInDM: map[uint32]map[uint8]xl.PciBdf{}}
}

func (f *fakeToolstack) addDomain(id uint32, name string, t xl.DomainType) *fakeDomain {
	d := &fakeDomain{
		info: xl.DomainInfo{Domid: id, Name: name, Type: t, State: xl.StateBlocked},
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
	d, ok := f.domains[id]
	if !ok {
		return xl.DomainInfo{}, xl.ErrDomainNotFound
	}
	return d.info, nil
}

func (f *fakeToolstack) DomainConfig(id uint32) (xl.DomainConfig, error) {
	d, ok := f.domains[id]
	if !ok {
		return xl.DomainConfig{}, xl.ErrDomainNotFound
	}
	return d.cfg, nil
}

func (f *fakeToolstack) ListDomains() ([]xl.DomainInfo, error) {
	out := []xl.DomainInfo{{Domid: 0, Name: "Domain-0"}}
	for _, d := range f.domains {
		out = append(out, d.info)
	}
	return out, nil
}

func (f *fakeToolstack) PhysInfo() (xl.PhysInfo, error) {
	return xl.PhysInfo{CapHVM: true, CapPV: true, CapHVMDirectIO: f.direct}, nil
}

func (f *fakeToolstack) owner(b xl.PciBdf) (uint32, bool) {
	for id, d := range f.domains {
		for _, x := range d.devs {
			if x.PciBdf == b {
				return id, true
			}
		}
	}
	return 0, false
}

func (f *fakeToolstack) PciAdd(id uint32, dev xl.DevicePci) error {
	if err := f.injected("add " + dev.PciBdf.String()); err != nil {
		if d := f.domains[id]; d != nil && d.info.Type == xl.DomainTypeHVM && dev.VSlot() != 0 {
			// libxl 4.17: QEMU keeps the device after a failure later in the add.
			if f.staleInDM[id] == nil {
				f.staleInDM[id] = map[uint8]xl.PciBdf{}
			}
			f.staleInDM[id][dev.VSlot()] = dev.PciBdf
		}
		return err
	}
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	if _, on := f.pciback[dev.PciBdf]; !on {
		return fmt.Errorf("PCI device %s is not assignable: %w", dev.PciBdf, xl.ErrFail)
	}
	if _, taken := f.owner(dev.PciBdf); taken {
		return fmt.Errorf("PCI device %s is not assignable: %w", dev.PciBdf, xl.ErrFail)
	}
	if d.info.Type == xl.DomainTypeHVM {
		slot := dev.VSlot()
		if b, stale := f.staleInDM[id][slot]; stale {
			return fmt.Errorf("Duplicate device ID 'pci-pt-%02x_%02x.%x': %w", b.Bus, b.Dev, b.Func, xl.ErrFail)
		}
		for _, x := range d.devs {
			if slot != 0 && x.VSlot() == slot && len(d.devs) > 0 && dev.VFunc() == x.VFunc() {
				return fmt.Errorf("qemu: slot %x function %x not available: %w", slot, dev.VFunc(), xl.ErrFail)
			}
		}
		if slot == 0 { // qemu picks the first free slot from 3 on
			used := map[uint8]bool{}
			for _, x := range d.devs {
				used[x.VSlot()] = true
			}
			for s := uint8(3); s < 32; s++ {
				if !used[s] {
					dev.Vdevfn = xl.Vdevfn(s, 0)
					break
				}
			}
		}
	} else {
		dev.Vdevfn = 0
	}
	d.devs = append(d.devs, dev)
	return nil
}

func (f *fakeToolstack) remove(id uint32, dev xl.DevicePci, force bool) error {
	d, ok := f.domains[id]
	if !ok {
		return xl.ErrDomainNotFound
	}
	if f.removeTimeout && !force {
		return fmt.Errorf("timed out waiting for DM to remove: %w", xl.ErrTimedOut)
	}
	for i, x := range d.devs {
		if x.PciBdf == dev.PciBdf {
			d.devs = append(d.devs[:i], d.devs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("PCI device not attached to this domain: %w", xl.ErrInval)
}

func (f *fakeToolstack) PciRemove(id uint32, dev xl.DevicePci) error {
	if err := f.injected("remove " + dev.PciBdf.String()); err != nil {
		return err
	}
	return f.remove(id, dev, false)
}

func (f *fakeToolstack) PciDestroy(id uint32, dev xl.DevicePci) error {
	if err := f.injected("destroy " + dev.PciBdf.String()); err != nil {
		return err
	}
	return f.remove(id, dev, true)
}

func (f *fakeToolstack) PciList(id uint32) ([]xl.DevicePci, error) {
	d, ok := f.domains[id]
	if !ok {
		return nil, xl.ErrDomainNotFound
	}
	return append([]xl.DevicePci(nil), d.devs...), nil
}

func (f *fakeToolstack) PciAssignableAdd(dev xl.DevicePci, rebind bool) error {
	if err := f.injected("assignable-add " + dev.PciBdf.String()); err != nil {
		return err
	}
	f.pciback[dev.PciBdf] = dev.Name
	return nil
}

func (f *fakeToolstack) PciAssignableRemove(dev xl.DevicePci, rebind bool) error {
	if err := f.injected("assignable-remove " + dev.PciBdf.String()); err != nil {
		return err
	}
	delete(f.pciback, dev.PciBdf)
	return nil
}

func (f *fakeToolstack) PciAssignableList() ([]xl.DevicePci, error) {
	var out []xl.DevicePci
	for b, name := range f.pciback {
		if _, used := f.owner(b); used {
			continue
		}
		d := xl.NewDevicePci()
		d.PciBdf, d.Name, d.VfuncMask = b, name, 1
		out = append(out, d)
	}
	return out, nil
}

// fakeDM removes stale devices from the fake's device model.
type fakeDM struct{ f *fakeToolstack }

func (m fakeDM) RemoveStale(id uint32, b xl.PciBdf) error {
	m.f.calls = append(m.f.calls, "dm-remove "+b.String())
	for slot, x := range m.f.staleInDM[id] {
		if x == b {
			delete(m.f.staleInDM[id], slot)
		}
	}
	return nil
}
