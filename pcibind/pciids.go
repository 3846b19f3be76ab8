package pcibind

import (
	"bytes"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// PciIDsPaths are where distributions put pci.ids: Debian's
// /usr/share/misc, and /usr/share/hwdata (Fedora, Arch, SUSE).
var PciIDsPaths = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"}

// FindPciIDs is the pci.ids file to read names from (WithPciIDs): the
// one given, else the first of paths (PciIDsPaths) that exists; "" when
// there is none.
func FindPciIDs(given string, paths []string) string {
	if given != "" {
		return given
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// pciIDs is a lazy reader of the pci.ids database: one pass over the file
// records where each vendor's block and the class section start; names
// are looked up in those blocks on demand and cached. A missing or
// unreadable file gives no names, and callers print numbers.
type pciIDs struct {
	data    []byte
	mapped  bool           // data is a mapping of the file (see safely)
	vendors map[uint16]int // offset of the vendor's line
	classes int            // offset of the first "C " line, -1 if none

	mu     sync.Mutex
	cache  map[uint32][2]string
	ccache map[uint32]string
}

var idsCache sync.Map // path -> *pciIDs; the file does not change under a process

func loadPciIDs(path string) *pciIDs {
	if v, ok := idsCache.Load(path); ok {
		return v.(*pciIDs)
	}
	ids := &pciIDs{vendors: map[uint16]int{}, classes: -1,
		cache: map[uint32][2]string{}, ccache: map[uint32]string{}}
	if b, mapped, err := mapFile(path); err == nil {
		ids.data, ids.mapped = b, mapped
		ids.safely(ids.index)
	}
	v, _ := idsCache.LoadOrStore(path, ids)
	return v.(*pciIDs)
}

// mapFile maps a file read-only for the life of the process (names are
// copied out of it, so it is never unmapped). A full scan read all of
// pci.ids' 1.3 MB into fresh heap pages, some 330 page faults and a copy,
// for the few hundred lines it looks at; a mapping shares the page cache.
// update-pciids replaces the file by rename, which leaves a mapping
// intact; a file truncated in place would fault (SIGBUS) on the pages
// past its new end, which safely turns into "no names". An empty file or
// a failed mmap falls back to reading the file (bounded).
func mapFile(path string) (data []byte, mapped bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	size := st.Size()
	if size <= 0 || size > maxPciIDs || !st.Mode().IsRegular() {
		b, err := io.ReadAll(io.LimitReader(f, maxPciIDs))
		return b, false, err
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		b, err := io.ReadAll(io.LimitReader(f, maxPciIDs))
		return b, false, err
	}
	return b, true, nil
}

// maxPciIDs bounds what is read of pci.ids (1.3 MB in 2024).
const maxPciIDs = 64 << 20

// safely runs fn, which reads p.data; a fault on the mapping (the file
// truncated in place since it was mapped) ends in no names from then on
// instead of the process dying of SIGBUS.
func (p *pciIDs) safely(fn func()) {
	if !p.mapped {
		fn()
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			p.data, p.vendors, p.classes = nil, map[uint16]int{}, -1
		}
	}()
	fn()
}

func (p *pciIDs) index() {
	d := p.data
	for off := 0; off < len(d); {
		end := bytes.IndexByte(d[off:], '\n')
		if end < 0 {
			end = len(d) - off
		}
		line := d[off : off+end]
		if len(line) >= 6 && line[0] != '\t' && line[0] != '#' {
			if line[0] == 'C' && line[1] == ' ' {
				p.classes = off
				return // the class section is last
			}
			if v, err := strconv.ParseUint(string(line[:4]), 16, 16); err == nil {
				p.vendors[uint16(v)] = off
			}
		}
		off += end + 1
	}
}

// lines calls fn for each line from off, stopping when fn returns false.
func (p *pciIDs) lines(off int, fn func(line []byte) bool) {
	d := p.data
	for off < len(d) {
		end := bytes.IndexByte(d[off:], '\n')
		if end < 0 {
			end = len(d) - off
		}
		if !fn(d[off : off+end]) {
			return
		}
		off += end + 1
	}
}

// names returns the vendor and device names, "" where unknown.
func (p *pciIDs) names(vendor, device uint16) (string, string) {
	key := uint32(vendor)<<16 | uint32(device)
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.cache[key]; ok {
		return v[0], v[1]
	}
	var vn, dn string
	if off, ok := p.vendors[vendor]; ok {
		first := true
		p.safely(func() {
			p.lines(off, func(l []byte) bool {
				if first {
					first = false
					vn = string(bytes.TrimSpace(l[4:]))
					return true
				}
				if len(l) == 0 || l[0] == '#' {
					return true
				}
				if l[0] != '\t' {
					return false // next vendor
				}
				if len(l) > 6 && l[1] != '\t' {
					if v, err := strconv.ParseUint(string(l[1:5]), 16, 16); err == nil && uint16(v) == device {
						dn = string(bytes.TrimSpace(l[5:]))
						return false
					}
				}
				return true
			})
		})
	}
	p.cache[key] = [2]string{vn, dn}
	return vn, dn
}

// className names the 24-bit class code as lspci does: the subclass
// ("PCI bridge", "Non-Volatile memory controller"), else the base class.
// The programming interface ("Normal decode") is not a class name; lspci
// shows it apart, as "prog-if".
func (p *pciIDs) className(class uint32) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.ccache[class]; ok {
		return v
	}
	base, sub := uint64(class>>16), uint64(class>>8&0xff)
	var name string
	if p.classes >= 0 {
		inBase, inSub := false, false
		p.safely(func() {
			p.lines(p.classes, func(l []byte) bool {
				switch {
				case len(l) == 0 || l[0] == '#':
				case len(l) > 4 && l[0] == 'C' && l[1] == ' ':
					if inBase {
						return false
					}
					if v, err := strconv.ParseUint(string(l[2:4]), 16, 8); err == nil && v == base {
						inBase = true
						name = string(bytes.TrimSpace(l[4:]))
					}
				case !inBase:
				case len(l) > 4 && l[0] == '\t' && l[1] != '\t':
					if inSub {
						return false
					}
					if v, err := strconv.ParseUint(string(l[1:3]), 16, 8); err == nil && v == sub {
						inSub = true
						name = string(bytes.TrimSpace(l[3:]))
					}
				}
				return true
			})
		})
	}
	p.ccache[class] = name
	return name
}
