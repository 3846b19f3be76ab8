package xlcfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddRemovePci(t *testing.T) {
	p := filepath.Join(t.TempDir(), "g.cfg")
	if err := os.WriteFile(p, []byte("name = 'g'\npci = [ '03:00.0@6', 'name=gpu' ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AddPci(p, "0000:03:00.0,permissive=1"); err == nil || !strings.Contains(err.Error(), `0000:03:00.0 is already in pci as "03:00.0@6"`) {
		t.Errorf("a device twice: %v", err)
	}
	if err := AddPci(p, "04:00.*@7"); err != nil {
		t.Fatal(err)
	}
	removed, d, err := RemovePci(p, "04:00.1")
	if err != nil || len(removed) != 1 || removed[0] != "04:00.*@7" || d.Describe() != "0000:04:00.1" {
		t.Errorf("remove by a function of the slot: %v %v %v", removed, d, err)
	}
	if _, _, err := RemovePci(p, "name=nic"); err == nil || !strings.Contains(err.Error(), `the device named "nic" is not in pci (2 entries)`) {
		t.Errorf("remove what is not there: %v", err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if list, _, _ := f.StringList("pci"); strings.Join(list, " ") != "03:00.0@6 name=gpu" {
		t.Errorf("left %v", list)
	}
	os.WriteFile(p, []byte("pci = [ '03:00.0' \n"), 0o644)
	if _, err := Load(p); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "xl would refuse this file") {
		t.Errorf("a broken file: %v", err)
	}
}
