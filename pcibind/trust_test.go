package pcibind_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
)

// Issue 25: pcibind's undo record is read back as untrusted input; the
// driver it names becomes a sysfs path only if it is a driver's name.
func TestGiveBackRefusesARecordNamingAPathForADriver(t *testing.T) {
	f := newBfix(t)
	b := f.dev(t, "e1000e")
	if err := f.s.Hide(b, pcibind.DriverPciback, pcibind.MethodSlot); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.state, "pci", b.String()+".json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `"driver": "e1000e"`, `"driver": "../../../devices/x"`, 1)
	if bad == string(data) {
		t.Fatalf("record has no driver field: %s", data)
	}
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	before := f.snap()
	n := len(f.k.Writes)
	err = f.s.GiveBack(b)
	if err == nil || !strings.Contains(err.Error(), "not a driver's name") {
		t.Fatalf("GiveBack with a record naming a path: %v", err)
	}
	if len(f.k.Writes) != n {
		t.Errorf("writes made from the record: %v", f.k.Writes[n:])
	}
	if after := f.snap(); after.drivers[b] != before.drivers[b] {
		t.Errorf("%s moved to %q", b, after.drivers[b])
	}
}

func TestValidDriverName(t *testing.T) {
	for name, want := range map[string]bool{"e1000e": true, "xen-pciback": true, "snd_hda_intel": true, "pci-stub": true,
		"": false, ".": false, "..": false, "../x": false, "a/b": false, "e1000e\n": false, strings.Repeat("a", 65): false} {
		if got := pcibind.ValidDriverName(name); got != want {
			t.Errorf("ValidDriverName(%q) = %v, want %v", name, got, want)
		}
	}
}
