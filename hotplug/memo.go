package hotplug

import (
	"sync"

	"github.com/xlpt/xlpt/xl"
)

// Memo returns ts with its queries remembered for one run: the domain
// list, each domain's info, configuration and PCI list, the assignable
// list, libxl's xenstore record of a function, physinfo and qualifier
// lookups go to libxl at most once, however many rules ask. A change made
// through it (PCI add, remove, destroy, assignable add or remove) forgets
// what the change may alter, so a list read after it is asked again.
// Errors are not remembered. Safe for concurrent use: a query holds the
// memo while libxl answers, so a change that ends meanwhile forgets the
// answer after it is stored.
func Memo(ts Toolstack) Toolstack {
	if m, ok := ts.(*memo); ok {
		return m
	}
	return &memo{Toolstack: ts, ids: map[string]uint32{}, info: map[uint32]xl.DomainInfo{},
		config: map[uint32]xl.DomainConfig{}, pci: map[uint32][]xl.DevicePci{}}
}

type memo struct {
	Toolstack
	mu         sync.Mutex
	ids        map[string]uint32
	info       map[uint32]xl.DomainInfo
	config     map[uint32]xl.DomainConfig
	pci        map[uint32][]xl.DevicePci
	domains    []xl.DomainInfo
	haveDoms   bool
	assignable []xl.DevicePci
	haveAssign bool
	xsDomid    map[xl.PciBdf]xsDomid
	phys       *xl.PhysInfo
}

func (m *memo) DomainQualifierToID(q string) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.ids[q]; ok {
		return id, nil
	}
	id, err := m.Toolstack.DomainQualifierToID(q)
	if err == nil {
		m.ids[q] = id
	}
	return id, err
}

func (m *memo) DomainInfo(domid uint32) (xl.DomainInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.info[domid]; ok {
		return v, nil
	}
	v, err := m.Toolstack.DomainInfo(domid)
	if err == nil {
		m.info[domid] = v
	}
	return v, err
}

func (m *memo) DomainConfig(domid uint32) (xl.DomainConfig, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.config[domid]; ok {
		return v, nil
	}
	v, err := m.Toolstack.DomainConfig(domid)
	if err == nil {
		m.config[domid] = v
	}
	return v, err
}

func (m *memo) ListDomains() ([]xl.DomainInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.haveDoms {
		return m.domains, nil
	}
	v, err := m.Toolstack.ListDomains()
	if err == nil {
		m.domains, m.haveDoms = v, true
	}
	return v, err
}

func (m *memo) PhysInfo() (xl.PhysInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phys != nil {
		return *m.phys, nil
	}
	v, err := m.Toolstack.PhysInfo()
	if err == nil {
		m.phys = &v
	}
	return v, err
}

func (m *memo) PciList(domid uint32) ([]xl.DevicePci, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.pci[domid]; ok {
		return v, nil
	}
	v, err := m.Toolstack.PciList(domid)
	if err == nil {
		m.pci[domid] = v
	}
	return v, err
}

func (m *memo) PciAssignableList() ([]xl.DevicePci, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.haveAssign {
		return m.assignable, nil
	}
	v, err := m.Toolstack.PciAssignableList()
	if err == nil {
		m.assignable, m.haveAssign = v, true
	}
	return v, err
}

type xsDomid struct {
	domid uint32
	held  bool
}

func (m *memo) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.xsDomid[b]; ok {
		return v.domid, v.held, nil
	}
	id, held, err := m.Toolstack.PciXsDomid(b)
	if err == nil {
		if m.xsDomid == nil {
			m.xsDomid = map[xl.PciBdf]xsDomid{}
		}
		m.xsDomid[b] = xsDomid{id, held}
	}
	return id, held, err
}

// changed forgets what a PCI change to domid may alter, whether or not
// the change succeeded (a failure may be half done).
func (m *memo) changed(domid uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pci, domid)
	delete(m.config, domid)
	m.haveAssign = false
	m.xsDomid = nil
}

func (m *memo) PciAdd(domid uint32, d xl.DevicePci) error {
	defer m.changed(domid)
	return m.Toolstack.PciAdd(domid, d)
}

func (m *memo) PciRemove(domid uint32, d xl.DevicePci) error {
	defer m.changed(domid)
	return m.Toolstack.PciRemove(domid, d)
}

func (m *memo) PciDestroy(domid uint32, d xl.DevicePci) error {
	defer m.changed(domid)
	return m.Toolstack.PciDestroy(domid, d)
}

func (m *memo) PciAssignableAdd(d xl.DevicePci, rebind bool) error {
	defer m.forgetAssignable()
	return m.Toolstack.PciAssignableAdd(d, rebind)
}

func (m *memo) PciAssignableRemove(d xl.DevicePci, rebind bool) error {
	defer m.forgetAssignable()
	return m.Toolstack.PciAssignableRemove(d, rebind)
}

func (m *memo) forgetAssignable() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.haveAssign = false
	m.xsDomid = nil
}
