package hotplug

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
)

// Issue 25: devices.conf, which operators edit by hand and restore acts
// on at boot, is untrusted input.

// One bad line is skipped with a warning; the rest of the host still
// gets its setup at boot.
func TestRestoreSkipsABadLineAndAppliesTheRest(t *testing.T) {
	w, p := restoreWorld(t)
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p.Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("assignable  0000:00:1f.0  8086 driver=pciback\n")
	f.Close()
	w.svc.configDir = filepath.Dir(p.Path)
	res, err := w.svc.Restore(false)
	if err != nil {
		t.Fatalf("restore refused the whole file: %v", err)
	}
	if got := outcomes(res); strings.Count(got, "=applied") != 4 {
		t.Errorf("restore: %s; want the 4 good lines applied", got)
	}
	if res.OK() || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "devices.conf:") || !strings.Contains(res.Skipped[0], "identity") {
		t.Errorf("skipped %q; want the bad line named, and the restore not OK", res.Skipped)
	}
	// An edit still refuses the file: saving it would drop the line.
	_, err = w.svc.AssignableAdd(AssignableRequest{Device: w.nic, Persist: true})
	mustFail(t, err, ErrHostSetup, "identity")
}

// A name is one word of one line: a newline (a line of its own, an
// sriov line restore would apply) or '#' (a comment that the next
// restore reads as a broken line) is refused before anything changes.
func TestPersistNameIsOneWord(t *testing.T) {
	for _, name := range []string{"nic\nsriov 0000:00:09.0 1b36:0010 vfs=7", "web nic#1", "a=b", "", strings.Repeat("n", 65)} {
		w := newBindWorld(t)
		conf := t.TempDir()
		w.svc.configDir = conf
		req := AssignableRequest{Device: w.free, Driver: pcibind.DriverPciStub, Persist: true, Name: name}
		if name == "" {
			req.Name = "\t"
		}
		_, err := w.svc.AssignableAdd(req)
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("-n %q: %v; want a bad request", req.Name, err)
		}
		if d := w.k.Driver(w.free); d != "e1000e" {
			t.Errorf("-n %q: the device went to %q", req.Name, d)
		}
		if b, err := os.ReadFile(filepath.Join(conf, PersistFileName)); err == nil {
			t.Errorf("-n %q wrote:\n%s", req.Name, b)
		}
	}
	if _, err := ParsePersist("devices.conf", []byte("assignable 0000:00:03.0 8086:10d3 name=a+b:c.d_e-f\n")); err != nil {
		t.Errorf("a good name refused: %v", err)
	}
	if _, err := ParsePersist("devices.conf", []byte("assignable 0000:00:03.0 8086:10d3 original=../../x\n")); err == nil {
		t.Error("original=../../x read as a driver")
	}
}

// A save is durable: the directory is synced after the rename.
func TestPersistSaveSyncsTheDirectory(t *testing.T) {
	var synced []string
	saved := syncDir
	syncDir = func(d string) error { synced = append(synced, d); return saved(d) }
	defer func() { syncDir = saved }()
	dir := t.TempDir()
	p := &PersistFile{Path: filepath.Join(dir, PersistFileName)}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("directories synced: %v; want %s", synced, dir)
	}
}
