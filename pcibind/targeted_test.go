package pcibind_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// view is everything rules ask a Host about one function.
type view struct {
	Device      *pcibind.Device
	Group       []xl.PciBdf
	GroupBridge xl.PciBdf
	InGroup     bool
	Functions   []xl.PciBdf
	Warnings    []pcibind.Warning
	Refusals    []string
	HeldByDom0  []xl.PciBdf
	Split       []string
	Parents     []*pcibind.Device
	PF          *pcibind.Device
}

func viewOf(h *pcibind.Host, b xl.PciBdf) view {
	d, _ := h.Device(b)
	v := view{Device: d, Group: h.Group(b), Functions: h.Functions(b.Slot()),
		Warnings: h.Warnings(b), Refusals: h.Refusals(b, nil), HeldByDom0: h.SiblingsHeldByDom0(b),
		Split: h.SplitGroups([]xl.PciBdf{b})}
	v.GroupBridge, v.InGroup = h.GroupBridge(b)
	if d != nil {
		for _, p := range d.Parents {
			pd, _ := h.Device(p)
			v.Parents = append(v.Parents, pd)
		}
		if d.PhysFn != nil {
			v.PF, _ = h.Device(*d.PhysFn)
		}
	}
	return v
}

// sameAsScan checks that a targeted read of each function answers as
// the full scan does, and reads at most maxRead functions for it.
func sameAsScan(t *testing.T, s *pcibind.Sysfs, maxRead int) {
	t.Helper()
	full, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Devices) == 0 {
		t.Fatal("no devices")
	}
	for _, d := range full.Devices {
		h, err := s.Read(d.BDF)
		if err != nil {
			t.Fatalf("Read(%s): %v", d.BDF, err)
		}
		if n := len(h.Devices); n > maxRead {
			t.Errorf("Read(%s) read %d of %d functions at once, want at most %d", d.BDF, n, len(full.Devices), maxRead)
		}
		want, got := viewOf(full, d.BDF), viewOf(h, d.BDF)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: targeted read differs from the full scan:\n got %+v\nwant %+v", d.BDF, got, want)
		}
		if err := h.Err(); err != nil {
			t.Errorf("%s: %v", d.BDF, err)
		}
	}
	// A function that is not there is absent, not an error.
	missing := xl.PciBdf{Domain: 0x7777, Bus: 1}
	h, err := s.Read(missing)
	if err != nil {
		t.Fatalf("Read(absent): %v", err)
	}
	if _, ok := h.Device(missing); ok || len(h.Devices) != 0 {
		t.Errorf("absent function found: %v", h.Devices)
	}
}

func TestReadMatchesScanSample(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	sameAsScan(t, pcibind.New(tr.Root), 16)
}

func TestReadMatchesScanLarge(t *testing.T) {
	for _, topo := range []pcitest.Topology{pcitest.Large(600), pcitest.Wide(300)} {
		tr, err := pcitest.Generate(pcitest.TempDir(t), topo)
		if err != nil {
			t.Fatal(err)
		}
		// The biggest closure: a function, its parents (up to 4 here),
		// its conventional group of 4 and a PF; never hundreds.
		sameAsScan(t, pcibind.New(tr.Root), 12)
	}
}

func TestReadMatchesScanUnprivileged(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tr.Funcs {
		if err := os.Truncate(filepath.Join(tr.Root, f.Path, "config"), pcibind.ConfigSizeUser); err != nil {
			t.Fatal(err)
		}
	}
	sameAsScan(t, pcibind.New(tr.Root), 16)
}

func TestReadMatchesScanRecorded(t *testing.T) {
	tarballs, _ := filepath.Glob("testdata/sysfs/*.tar.gz")
	if len(tarballs) == 0 {
		t.Fatal("no recorded trees in testdata/sysfs")
	}
	for _, tb := range tarballs {
		t.Run(filepath.Base(tb), func(t *testing.T) {
			sys, proc := extractTree(t, tb)
			sameAsScan(t, pcibind.New(sys, pcibind.WithProcRoot(proc)), 16)
		})
	}
}

// A view read for one function answers for others too, reading them
// when first asked.
func TestReadOnDemand(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	s := pcibind.New(tr.Root)
	full, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Devices) != 0 {
		t.Fatalf("Read() read %d functions", len(h.Devices))
	}
	for _, d := range full.Devices {
		if want, got := viewOf(full, d.BDF), viewOf(h, d.BDF); !reflect.DeepEqual(got, want) {
			t.Errorf("%s on demand:\n got %+v\nwant %+v", d.BDF, got, want)
		}
	}
	if _, err := pcibind.New(t.TempDir()).Read(); err == nil {
		t.Error("Read of a tree without bus/pci: no error")
	}
}
