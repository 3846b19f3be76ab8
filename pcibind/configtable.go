package pcibind

import (
	"bytes"
	"hash/maphash"
	"sync"
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
	if c, ok := t.find(h, b); ok {
		return c
	}
	c := Config(bytes.Clone(b))
	t.mu.Lock()
	t.m[h] = append(t.m[h], c)
	t.mu.Unlock()
	return c
}

func (t *configTable) find(h uint64, b []byte) (Config, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.m[h] {
		if bytes.Equal(c, b) {
			return c, true
		}
	}
	return nil, false
}
