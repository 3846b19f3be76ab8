package pcibind

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/xlpt/xlpt/internal/prefault"
)

// configTable keeps one copy of each distinct config space a scan reads.
// A PF's VFs, and other functions of one model in the same state, have
// byte-identical config spaces; keeping a fresh 4 KiB for each of
// thousands costs a full scan more in page faults than reading them.
// Nothing writes into a Device's Config, so sharing one is safe.
type configTable struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[uint64][]Config
	slab []byte // the unused rest of the slab copies are cut from
}

func newConfigTable() *configTable {
	return &configTable{seed: maphash.MakeSeed(), m: map[uint64][]Config{}}
}

// keep returns a copy of b that outlives the reader's buffer: the
// table's when it has one with the same bytes. A nil table copies.
func (t *configTable) keep(b []byte) Config {
	if t == nil {
		return Config(bytes.Clone(b))
	}
	h := maphash.Bytes(t.seed, b)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.m[h] {
		if bytes.Equal(c, b) {
			return c
		}
	}
	c := t.store(b)
	t.m[h] = append(t.m[h], c)
	return c
}

// configSlab is how much config space one slab holds: 32 PCIe configs.
const configSlab = 32 * ConfigSizeExt

// store copies b into the current slab (t.mu held). Copies are cut from
// slabs whose pages are backed by one madvise each (prefault), not by
// one trap per 4 KiB copy: a scan of 4,096 functions with 1,046 distinct configs
// took ~1,000 page faults here. The capacity is cut to the length, so
// nothing appended to one copy runs into the next.
func (t *configTable) store(b []byte) Config {
	if len(t.slab) < len(b) {
		t.slab = prefault.Make[byte](max(len(b), configSlab))
	}
	c := Config(t.slab[:len(b):len(b)])
	copy(c, b)
	t.slab = t.slab[len(b):]
	return c
}
