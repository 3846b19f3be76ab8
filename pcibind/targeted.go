package pcibind

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"syscall"

	"github.com/xlpt/xlpt/xl"
	"golang.org/x/sys/unix"
)

// lazy is what a targeted view (Read) has read so far.
type lazy struct {
	mu      sync.Mutex
	absent  map[xl.PciBdf]bool // looked for, not there
	closed  map[xl.PciBdf]bool // its parents and group have been read
	subtree map[xl.PciBdf]bool // group bridges whose subtree has been read
	// PFs read only for their VFs' IDs: their virtfn links (up to 256
	// readlinks) are read when the PF itself is asked about.
	vfLinks map[xl.PciBdf]bool
	err     error // the first failed read (not an absence)
}

// Read returns a targeted view of the host for commands about named
// functions: each one, its parents, every function behind its topmost
// PCIe-to-PCI or PCI bridge (its same-domain group) and, for a VF, its
// PF. It never walks the whole bus. Functions asked about later (Device,
// Group, Functions, Warnings...) are read when first asked about, with
// the same closure, so the view answers as a full Scan would for every
// function it is asked about; Devices holds what has been read so far.
// A named function that does not exist is no error: Device says so.
func (s *Sysfs) Read(bdfs ...xl.PciBdf) (*Host, error) {
	if _, err := os.Stat(s.Path("bus/pci/devices")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNoPCI, err)
		}
		return nil, err
	}
	h := &Host{sys: s, byBDF: map[xl.PciBdf]*Device{},
		groups: map[xl.PciBdf]xl.PciBdf{}, members: map[xl.PciBdf][]xl.PciBdf{},
		lazy: &lazy{absent: map[xl.PciBdf]bool{}, closed: map[xl.PciBdf]bool{}, subtree: map[xl.PciBdf]bool{},
			vfLinks: map[xl.PciBdf]bool{}}}
	unlock := h.locked()
	defer unlock()
	for _, b := range bdfs {
		h.get(b)
	}
	if h.lazy.err != nil {
		return nil, h.lazy.err
	}
	return h, nil
}

// Err is the first read of a targeted view that failed other than by
// absence (such a function then looks absent); nil for a full scan.
func (h *Host) Err() error {
	if h.lazy == nil {
		return nil
	}
	defer h.locked()()
	return h.lazy.err
}

// locked takes a targeted view's lock (reads fill its maps); a full
// scan needs none.
func (h *Host) locked() func() {
	if h.lazy == nil {
		return func() {}
	}
	h.lazy.mu.Lock()
	return h.lazy.mu.Unlock
}

// get returns a function, nil if absent; in a targeted view it first
// reads the function, its parents and its group. Call it locked.
func (h *Host) get(b xl.PciBdf) *Device {
	l := h.lazy
	if l == nil || l.closed[b] {
		return h.byBDF[b]
	}
	l.closed[b] = true
	h.load(b)
	d := h.byBDF[b]
	if d == nil {
		return nil
	}
	if l.vfLinks[b] {
		delete(l.vfLinks, b)
		h.readVFLinks(d)
	}
	h.load(d.Parents...)
	h.readGroup(d)
	return d
}

// dev is get with the lock taken.
func (h *Host) dev(b xl.PciBdf) *Device {
	defer h.locked()()
	return h.get(b)
}

// load reads the functions not read yet, and a VF's PF for its IDs.
func (h *Host) load(bdfs ...xl.PciBdf) { h.loadWith(true, bdfs...) }

// loadWith is load; without vfLinks a PF's virtfn links wait for get.
func (h *Host) loadWith(vfLinks bool, bdfs ...xl.PciBdf) {
	l := h.lazy
	var todo []xl.PciBdf
	for _, b := range bdfs {
		if _, ok := h.byBDF[b]; !ok && !l.absent[b] {
			todo = append(todo, b)
		}
	}
	if len(todo) == 0 {
		return
	}
	s := h.sys
	devsFd, err := openAt(unixAtFdcwd, "", s.Path("bus/pci/devices"), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		l.fail(err)
		return
	}
	defer syscall.Close(devsFd)
	r := reader{s: s, devsFd: devsFd, physfn: true, noVFLinks: !vfLinks}
	var read []*Device
	for _, b := range todo {
		d, err := r.device(b.String())
		if err != nil {
			l.absent[b] = true
			if !errors.Is(err, fs.ErrNotExist) {
				l.fail(err)
			}
			continue
		}
		h.byBDF[b] = d
		read = append(read, d)
		if !vfLinks && d.NumVFs > 0 {
			l.vfLinks[b] = true
		}
	}
	for _, d := range read {
		if d.idsFromPF && d.PhysFn != nil {
			h.loadWith(false, *d.PhysFn)
		}
		if err := h.vfIDs(d); err != nil {
			l.fail(err)
		}
	}
	s.names(read)
	h.Devices = append(h.Devices, read...)
	sortDevices(h.Devices)
}

func (l *lazy) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// readGroup reads the subtree of d's topmost PCIe-to-PCI or PCI bridge,
// once per bridge, and records its members as computeGroups would: every
// function below that bridge has it as its own topmost one.
func (h *Host) readGroup(d *Device) {
	if d.IsBridge() || d.IsHostBridge() {
		return
	}
	var top *Device
	for i := len(d.Parents) - 1; i >= 0; i-- {
		if p := h.byBDF[d.Parents[i]]; p != nil && p.BridgeKind().groupsBridge() {
			top = p
			break
		}
	}
	if top == nil || h.lazy.subtree[top.BDF] {
		return
	}
	h.lazy.subtree[top.BDF] = true
	below := h.sys.below(top.Path, 0)
	h.load(below...)
	for _, b := range below {
		m := h.byBDF[b]
		if m == nil || m.IsBridge() || m.IsHostBridge() {
			continue
		}
		h.groups[b] = top.BDF
		h.members[top.BDF] = append(h.members[top.BDF], b)
	}
	ms := h.members[top.BDF]
	sort.Slice(ms, func(i, j int) bool { return ms[i].Less(ms[j]) })
}

// below lists the functions under a device directory (rel to the root),
// at any depth: child functions are subdirectories named by BDF.
func (s *Sysfs) below(rel string, depth int) []xl.PciBdf {
	if depth > 32 {
		return nil
	}
	ents, err := os.ReadDir(s.Path(rel))
	if err != nil {
		return nil
	}
	var out []xl.PciBdf
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if b, err := ParseSysfsBdf(e.Name()); err == nil {
			out = append(out, b)
			out = append(out, s.below(rel+"/"+e.Name(), depth+1)...)
		}
	}
	return out
}

// readVFLinks reads the virtfn links of a PF loaded without them.
func (h *Host) readVFLinks(d *Device) {
	dir := h.sys.Path("bus/pci/devices/" + d.BDF.String())
	dfd, err := openAt(unixAtFdcwd, "", dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		h.lazy.fail(err)
		return
	}
	defer syscall.Close(dfd)
	r := reader{s: h.sys, dfd: dfd, dir: dir}
	r.vfLinks(d)
}
