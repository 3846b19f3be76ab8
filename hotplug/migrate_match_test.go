package hotplug

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// nicTarget is a target host of `migrate attach` with identical NICs
// (QEMU e1000e: same IDs, no serial number) on the root bus from
// 00:15.0 on, NIC i bound to drivers[i] ("pciback": assignable, else
// held by a dom0 driver). 00:01.0 to 00:14.0 hold another model, so a
// plan's 00:05.0 and 00:06.0 are not the NIC here. It returns the
// Migration (over a fake libxl with no domain holding anything) and the
// NICs' identity.
func nicTarget(t *testing.T, drivers ...string) (*Migration, *fakeToolstack, Identity) {
	t.Helper()
	root := []*pcitest.Node{{Kind: pcitest.HostBridgeNode}}
	for dev := 1; dev < 0x15; dev++ {
		root = append(root, &pcitest.Node{Kind: pcitest.PCIDevice, Vendor: 0x1234, Device: 0x1111})
	}
	for _, drv := range drivers {
		root = append(root, &pcitest.Node{Kind: pcitest.Endpoint, MSI: true, FLR: true, Vendor: 0x8086, Device: 0x10d3, Driver: drv})
	}
	tree, err := pcitest.Generate(t.TempDir(), pcitest.Topology{Drivers: []string{"pciback", "e1000e"}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	host, err := pcibind.New(tree.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	id, err := identityOf(host, bdf(t, "0000:00:15.0"))
	if err != nil || id.Vendor != 0x8086 || id.DSN != "" {
		t.Fatalf("the first NIC: %s %v", id, err)
	}
	ts := newFake()
	ts.addDomain(4, "hvm1", xl.DomainTypeHVM)
	svc := &Service{ts: ts, host: host, slots: DefaultSlots, dm: fakeDM{ts}}
	return &Migration{s: svc, plans: FilePlan{Path: filepath.Join(t.TempDir(), "p"), nosync: true}, hostname: "dst"}, ts, id
}

// find matches one plan device, as a plan of that one device would be.
func (m *matcher) find(d PlanDevice) (xl.PciBdf, error) {
	got, errs := m.match([]PlanDevice{d})
	return got[0], errors.Join(errs...)
}

func bdf(t *testing.T, s string) xl.PciBdf {
	t.Helper()
	b, err := parseBDF(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nicPlan is a plan of detached NICs of identity id at the given BDFs,
// in that order, in guest slots 6, 7, ...
func nicPlan(id Identity, bdfs ...string) *Plan {
	p := &Plan{Version: PlanVersion, Kind: "migrate", Domain: "hvm1", SourceHost: "src", Phase: PhaseDetached}
	for i, b := range bdfs {
		slot := uint8(6 + i)
		p.Devices = append(p.Devices, PlanDevice{BDF: b, Vdevfn: xl.Vdevfn(slot, 0), GuestSlot: fmt.Sprintf("%02x.0", slot),
			FuncMask: 1, Identity: id, State: StateDetached, Assignable: PlanAssignable{Driver: "pciback"}})
	}
	return p
}

// targets maps each plan device's BDF to its target ("" none).
func targets(p *Plan) map[string]string {
	out := map[string]string{}
	for _, d := range p.Devices {
		out[d.BDF] = d.TargetBDF
	}
	return out
}

// noChange fails when the match changed anything through libxl.
func noChange(t *testing.T, ts *fakeToolstack) {
	t.Helper()
	for _, c := range ts.calls {
		if strings.HasPrefix(c, "add ") || strings.HasPrefix(c, "assignable-") || strings.HasPrefix(c, "remove ") {
			t.Errorf("the match changed the host: %v", ts.calls)
		}
	}
}

// Two identical NICs in the plan, two assignable identical NICs on the
// target (and a third dom0 still drives): interchangeable, paired in
// BDF order; the one dom0 drives is not a candidate.
func TestMigrateMatchPairsIdenticalAssignableNICs(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "pciback", "e1000e")
	// Highest first, as detach writes a plan: pairing is by BDF, not
	// by the plan's order.
	p := nicPlan(id, "0000:00:06.0", "0000:00:05.0")
	if err := m.matchTargets(p, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0000:00:05.0": "0000:00:15.0", "0000:00:06.0": "0000:00:16.0"}
	if got := targets(p); got["0000:00:05.0"] != want["0000:00:05.0"] || got["0000:00:06.0"] != want["0000:00:06.0"] {
		t.Errorf("targets %v; want %v", got, want)
	}
	noChange(t, ts)
}

// More assignable candidates than plan devices: which two is the
// operator's call. The refusal names every assignable candidate (not the
// one dom0 drives) and the --map fix for each plan device.
func TestMigrateMatchMoreAssignableNICsIsAmbiguous(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "pciback", "pciback", "e1000e")
	p := nicPlan(id, "0000:00:06.0", "0000:00:05.0")
	err := m.matchTargets(p, nil)
	var ae *AmbiguousError
	if !errors.As(err, &ae) {
		t.Fatalf("%v; want an AmbiguousError", err)
	}
	want := []xl.PciBdf{bdf(t, "0000:00:15.0"), bdf(t, "0000:00:16.0"), bdf(t, "0000:00:17.0")}
	if len(ae.Candidates) != 3 || ae.Candidates[0] != want[0] || ae.Candidates[1] != want[1] || ae.Candidates[2] != want[2] {
		t.Errorf("candidates %v; want the three assignable NICs %v", ae.Candidates, want)
	}
	t.Log(err)
	mustFail(t, err, nil, "nothing attached", "0000:00:15.0", "0000:00:16.0", "0000:00:17.0", "8086:10d3",
		"--map 0000:00:05.0=BDF", "--map 0000:00:06.0=BDF")
	if strings.Contains(err.Error(), "0000:00:18.0") {
		t.Errorf("the NIC dom0 drives is named as a candidate: %v", err)
	}
	if got := targets(p); got["0000:00:05.0"] != "" || got["0000:00:06.0"] != "" {
		t.Errorf("a refused match recorded targets %v", got)
	}
	noChange(t, ts)
	// Given with --map, each goes where it is told.
	p = nicPlan(id, "0000:00:06.0", "0000:00:05.0")
	if err := m.matchTargets(p, map[string]xl.PciBdf{"0000:00:05.0": want[2], "0000:00:06.0": want[0]}); err != nil {
		t.Fatal(err)
	}
	if got := targets(p); got["0000:00:05.0"] != "0000:00:17.0" || got["0000:00:06.0"] != "0000:00:15.0" {
		t.Errorf("--map: targets %v", got)
	}
	// One target given twice is refused, not attached twice.
	p = nicPlan(id, "0000:00:06.0", "0000:00:05.0")
	err = m.matchTargets(p, map[string]xl.PciBdf{"0000:00:05.0": want[2], "0000:00:06.0": want[2]})
	mustFail(t, err, nil, "nothing attached", "0000:00:17.0 is already another device's target")
}

// Fewer assignable candidates than plan devices: no free device. The
// NICs dom0 drives are not taken for the rest (the host setup says which
// devices are for guests), but the refusal names them.
func TestMigrateMatchTooFewAssignableNICs(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "e1000e", "e1000e")
	p := nicPlan(id, "0000:00:06.0", "0000:00:05.0")
	err := m.matchTargets(p, nil)
	t.Log(err)
	mustFail(t, err, ErrNoDevice, "nothing attached", "8086:10d3", "0000:00:15.0", "0000:00:06.0", "--map 0000:00:06.0=BDF",
		"0000:00:16.0", "0000:00:17.0")
	var ae *AmbiguousError
	if errors.As(err, &ae) {
		t.Errorf("%v: ambiguous; want no free device", err)
	}
	noChange(t, ts)
}

// A plan device whose BDF holds its model on the target keeps it, even
// when another plan device of that identity comes first in the plan; the
// other takes the one left.
func TestMigrateMatchKeepsTheSameBDF(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "pciback")
	p := nicPlan(id, "0000:00:05.0", "0000:00:15.0")
	if err := m.matchTargets(p, nil); err != nil {
		t.Fatal(err)
	}
	if got := targets(p); got["0000:00:15.0"] != "0000:00:15.0" || got["0000:00:05.0"] != "0000:00:16.0" {
		t.Errorf("targets %v; want 15 kept at 15, 05 to 16", got)
	}
	noChange(t, ts)
}

// Nothing that matched before stops matching: one device whose only
// free match dom0 still drives is matched to it (--assign makes it
// assignable), and one device with one assignable candidate beside
// several dom0 drives takes the assignable one.
func TestMigrateMatchFallsBackToNonAssignable(t *testing.T) {
	m, _, id := nicTarget(t, "e1000e")
	p := nicPlan(id, "0000:00:05.0")
	if err := m.matchTargets(p, nil); err != nil {
		t.Fatal(err)
	}
	if got := targets(p)["0000:00:05.0"]; got != "0000:00:15.0" {
		t.Errorf("05 -> %q; want the one NIC, 0000:00:15.0", got)
	}
	m, _, id = nicTarget(t, "e1000e", "pciback", "e1000e")
	p = nicPlan(id, "0000:00:05.0")
	if err := m.matchTargets(p, nil); err != nil {
		t.Fatal(err)
	}
	if got := targets(p)["0000:00:05.0"]; got != "0000:00:16.0" {
		t.Errorf("05 -> %q; want the assignable NIC, 0000:00:16.0", got)
	}
}
