package rdm

import (
	"errors"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// fakeXen answers as xc_reserved_device_memory_map would: the host's
// regions, and each device's own; it counts the per-device queries.
type fakeXen struct {
	all     []xl.RdmRegion
	per     map[xl.PciBdf][]xl.RdmRegion
	asked   []xl.PciBdf
	failAll error
}

func (f *fakeXen) ReservedDeviceMemory() ([]xl.RdmRegion, error) { return f.all, f.failAll }
func (f *fakeXen) DeviceReservedMemory(b xl.PciBdf) ([]xl.RdmRegion, error) {
	f.asked = append(f.asked, b)
	l, ok := f.per[b]
	if !ok {
		return nil, errors.New("no such device")
	}
	return l, nil
}

func TestFinderMergesSources(t *testing.T) {
	nic := xl.PciBdf{Bus: 0, Dev: 3}
	usb := xl.PciBdf{Bus: 0, Dev: 0x14}
	xen := &fakeXen{
		all: []xl.RdmRegion{{StartPFN: 0xf0, NrPages: 0x10}, {StartPFN: 0xab800, NrPages: 0x800}},
		per: map[xl.PciBdf][]xl.RdmRegion{nic: {{StartPFN: 0xf0, NrPages: 0x10}}},
	}
	f := &Finder{SysfsRoot: t.TempDir(), Xen: xen, RMRR: []string{"0x100-0x10f=" + usb.String()},
		XenCmdline: "console=com1 rmrr=0xf0-0xff=" + nic.String()}
	regs, notes, err := f.Regions([]xl.PciBdf{nic, usb})
	if err != nil {
		t.Fatal(err)
	}
	if len(xen.asked) != 2 {
		t.Errorf("Xen asked about %v, want both devices", xen.asked)
	}
	// The empty sysfs root has no DMAR table: a note, not an error.
	if len(notes) != 1 || !strings.Contains(notes[0], "no ACPI DMAR table") {
		t.Errorf("notes %q", notes)
	}
	got := map[uint64]Region{}
	for _, r := range regs {
		got[r.StartPFN] = r
	}
	if r := got[0xf0]; !r.Has(nic) || !hasSource(r.Sources, SourceXen) || len(r.Sources) != 2 {
		t.Errorf("0xf0: %+v, want nic's, from Xen and the command line", r)
	}
	if r := got[0x100]; !r.Has(usb) || len(r.Sources) != 1 {
		t.Errorf("0x100: %+v, want usb's, from --rmrr only", r)
	}
	if r, ok := got[0xab800]; !ok || len(r.Devices) != 0 {
		t.Errorf("0xab800: %+v, want a host region of no listed device", r)
	}
}

func TestFinderXenUnreadableIsANote(t *testing.T) {
	f := &Finder{SysfsRoot: t.TempDir(), NoDMAR: true, Xen: &fakeXen{failAll: errors.New("permission denied")}}
	regs, notes, err := f.Regions(nil)
	if err != nil || len(regs) != 0 {
		t.Fatalf("regions %v, err %v", regs, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "regions from Xen not read: permission denied") {
		t.Errorf("notes %q", notes)
	}
}

func TestFinderMalformedRMRR(t *testing.T) {
	f := &Finder{NoDMAR: true, RMRR: []string{"0xff-0xf0=0000:00:03.0"}}
	_, _, err := f.Regions(nil)
	if !errors.Is(err, ErrMalformedRMRR) {
		t.Fatalf("err %v, want ErrMalformedRMRR", err)
	}
}
