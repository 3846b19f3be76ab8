package pcibind_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

func sampleHost(t testing.TB) (*pcitest.Tree, *pcibind.Host) {
	t.Helper()
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	h, err := pcibind.New(tr.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	return tr, h
}

func TestScanMatchesTopology(t *testing.T) {
	tr, h := sampleHost(t)
	if len(h.Devices) != len(tr.Funcs) {
		t.Fatalf("scan found %d functions, generated %d", len(h.Devices), len(tr.Funcs))
	}
	for i := 1; i < len(h.Devices); i++ {
		if !h.Devices[i-1].BDF.Less(h.Devices[i].BDF) {
			t.Errorf("devices not sorted at %d", i)
		}
	}
	for _, f := range tr.Funcs {
		d, ok := h.Device(f.BDF)
		if !ok {
			t.Errorf("%s missing", f.BDF)
			continue
		}
		if d.Path != f.Path {
			t.Errorf("%s path %q, want %q", f.BDF, d.Path, f.Path)
		}
		if d.Driver != f.Driver {
			t.Errorf("%s driver %q, want %q", f.BDF, d.Driver, f.Driver)
		}
		if d.IsVF() != f.IsVF || f.IsVF && *d.PhysFn != f.PF {
			t.Errorf("%s physfn %v, want VF=%v of %s", f.BDF, d.PhysFn, f.IsVF, f.PF)
		}
		// Parents from the path must be the bridges the generator
		// nested it under: each parent's directory is a prefix.
		for _, p := range d.Parents {
			pf := tr.ByBDF[p]
			if pf == nil || len(pf.Path) >= len(f.Path) || f.Path[:len(pf.Path)] != pf.Path {
				t.Errorf("%s parent %s is not above it", f.BDF, p)
			}
		}
		if len(d.Unread) != 0 {
			t.Errorf("%s: unread %v on a fully readable tree", f.BDF, d.Unread)
		}
		if d.VendorName == "" && d.Vendor == 0x8086 {
			t.Errorf("%s: no vendor name for Intel", f.BDF)
		}
	}
	// A PF lists exactly its generated VFs.
	for _, f := range tr.Funcs {
		if f.Node.TotalVFs == 0 || f.IsVF {
			continue
		}
		d, _ := h.Device(f.BDF)
		if d.TotalVFs != f.Node.TotalVFs || d.NumVFs != f.Node.NumVFs || len(d.VFs) != f.Node.NumVFs {
			t.Errorf("PF %s: total %d num %d vfs %v, want %d/%d", f.BDF, d.TotalVFs, d.NumVFs, d.VFs, f.Node.TotalVFs, f.Node.NumVFs)
		}
		for _, vf := range d.VFs {
			if g := tr.ByBDF[vf]; g == nil || !g.IsVF || g.PF != f.BDF {
				t.Errorf("PF %s lists %s, not one of its VFs", f.BDF, vf)
			}
		}
	}
}

func TestScanAgainstLspciSynthetic(t *testing.T) {
	tr, h := sampleHost(t)
	if n := compareWithLspci(t, h, runLspci(t, tr.Root)); n < 10*len(h.Devices) {
		t.Errorf("only %d facts compared for %d devices", n, len(h.Devices))
	}
}

func TestGroupsAndWarnings(t *testing.T) {
	tr, h := sampleHost(t)
	// Expected groups, from the generated topology: every non-bridge
	// function below the topmost PCIe-to-PCI/legacy bridge.
	want := map[xl.PciBdf][]xl.PciBdf{}
	for _, top := range tr.Funcs {
		if top.Kind != pcitest.PCIeToPCI && top.Kind != pcitest.LegacyBridge {
			continue
		}
		if hasGroupingAncestor(tr, top) {
			continue
		}
		var members []xl.PciBdf
		for _, f := range tr.Funcs {
			if f != top && isBelow(f, top) && f.Kind == pcitest.PCIDevice {
				members = append(members, f.BDF)
			}
		}
		for _, m := range members {
			want[m] = members
		}
	}
	if len(want) < 2 {
		t.Fatalf("sample topology has no group to test")
	}
	for _, f := range tr.Funcs {
		got := h.Group(f.BDF)
		if !equalBdfs(got, want[f.BDF]) {
			t.Errorf("Group(%s) = %v, want %v", f.BDF, got, want[f.BDF])
		}
		d, _ := h.Device(f.BDF)
		if (f.Kind == pcitest.PCIDevice || f.Kind == pcitest.LegacyBridge || f.Kind == pcitest.HostBridgeNode) != d.IsConventional() {
			t.Errorf("%s: IsConventional %v for kind %d", f.BDF, d.IsConventional(), f.Kind)
		}
	}
	// ACS warnings: exactly the endpoints below downstream ports without
	// (enabled) ACS.
	for _, f := range tr.Funcs {
		var wantACS bool
		for _, p := range tr.Funcs {
			if p.Kind == pcitest.SwitchDown && isBelow(f, p) &&
				(p.Node.NoACS || p.Node.ACSCtrl != 0 && p.Node.ACSCtrl&pcibind.ACSIsolation != pcibind.ACSIsolation) {
				wantACS = true
			}
		}
		wantShared := f.Kind == pcitest.Endpoint && !f.IsVF && !f.Node.FLR && f.Node.Funcs > 1
		var gotACS, gotShared bool
		for _, w := range h.Warnings(f.BDF) {
			gotACS = gotACS || w.Kind == pcibind.WarnNoACS
			gotShared = gotShared || w.Kind == pcibind.WarnSharedRst
		}
		if gotACS != wantACS || gotShared != wantShared {
			t.Errorf("%s: ACS warning %v (want %v), shared reset %v (want %v): %v", f.BDF, gotACS, wantACS, gotShared, wantShared, h.Warnings(f.BDF))
		}
	}
}

func hasGroupingAncestor(tr *pcitest.Tree, f *pcitest.Func) bool {
	for _, p := range tr.Funcs {
		if (p.Kind == pcitest.PCIeToPCI || p.Kind == pcitest.LegacyBridge) && p != f && isBelow(f, p) {
			return true
		}
	}
	return false
}

func isBelow(f, p *pcitest.Func) bool {
	return len(f.Path) > len(p.Path)+1 && f.Path[:len(p.Path)+1] == p.Path+"/"
}

func equalBdfs(a, b []xl.PciBdf) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScanUnprivileged(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	// Truncate every config to 64 bytes, as a non-root reader sees it.
	for _, f := range tr.Funcs {
		p := filepath.Join(tr.Root, f.Path, "config")
		if err := os.Truncate(p, pcibind.ConfigSizeUser); err != nil {
			t.Fatal(err)
		}
	}
	h, err := pcibind.New(tr.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tr.Funcs {
		d, _ := h.Device(f.BDF)
		if len(d.Unread) == 0 {
			t.Errorf("%s: nothing reported unread with 64 bytes of config", f.BDF)
		}
		if d.IsConventional() || d.IsPCIe() {
			t.Errorf("%s: claims to know PCIe-ness from 64 bytes", f.BDF)
		}
		// The IDs still come right, from config or the files.
		if d.Vendor != f.Node.Vendor && f.Node.Vendor != 0 {
			t.Errorf("%s: vendor %04x, want %04x", f.BDF, d.Vendor, f.Node.Vendor)
		}
		// SR-IOV is found from the files.
		if f.Node.TotalVFs > 0 && !f.IsVF && (d.TotalVFs != f.Node.TotalVFs || len(d.VFs) != f.Node.NumVFs) {
			t.Errorf("%s: SR-IOV %d/%v from files", f.BDF, d.TotalVFs, d.VFs)
		}
	}
}

func TestScanErrors(t *testing.T) {
	_, err := pcibind.New(t.TempDir()).Scan()
	if !errors.Is(err, pcibind.ErrNoPCI) {
		t.Errorf("empty root: %v, want ErrNoPCI", err)
	}
	// A device removed between listing and reading is skipped: a
	// dangling bus/pci/devices link stands for it.
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	gone := tr.Funcs[3]
	if err := os.RemoveAll(filepath.Join(tr.Root, gone.Path)); err != nil {
		t.Fatal(err)
	}
	h, err := pcibind.New(tr.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Device(gone.BDF); ok {
		t.Errorf("removed %s still scanned", gone.BDF)
	}
	s := pcibind.New(tr.Root)
	if _, err := s.ReadFile("../../etc/passwd"); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile escaped the root: %v", err)
	}
	var pe *fs.PathError
	if _, err := s.ReadFile("nope"); !errors.As(err, &pe) {
		t.Errorf("ReadFile error %T, want *fs.PathError", err)
	}
}

func TestParseSysfsBdf(t *testing.T) {
	for _, s := range []string{"0000:00:00.0", "ffff:ff:1f.7", "0001:0a:10.3"} {
		b, err := pcibind.ParseSysfsBdf(s)
		if err != nil || b.String() != s {
			t.Errorf("ParseSysfsBdf(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "00:00.0", "0000:00:20.0", "0000:00:00.8", "0000:0g:00.0", "0000-00:00.0", "0000:00:00.0 "} {
		if _, err := pcibind.ParseSysfsBdf(s); err == nil {
			t.Errorf("ParseSysfsBdf(%q) accepted", s)
		}
	}
}
