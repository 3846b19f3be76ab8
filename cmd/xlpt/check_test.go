package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// checkTree is pcitest.Sample on disk with a /proc where the NVMe holds
// "/" and the virtio NIC carries the default route.
func checkTree(t *testing.T) (*pcitest.Tree, []string) {
	t.Helper()
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	proc := t.TempDir()
	files := map[string]string{
		"mounts":    "/dev/nvme0n1p1 / ext4 rw 0 0\n",
		"net/route": "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
	}
	for name, data := range files {
		p := filepath.Join(proc, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	global := []string{"--sysfs-root", tr.Root, "--config", filepath.Join(t.TempDir(), "none.conf")}
	return tr, append(global, "--proc-root", proc)
}

// cmdArgs puts the global flags before the command and --proc-root after
// it, in a fresh slice.
func cmdArgs(argv []string, cmd ...string) []string {
	out := append([]string{}, argv[:4]...)
	out = append(out, cmd[0])
	out = append(out, argv[4:]...)
	return append(out, cmd[1:]...)
}

func TestCheckJSON(t *testing.T) {
	tr, argv := checkTree(t)
	out, errOut, code := run(t, cmdArgs(argv, "check", "--json", "--no-libxl")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep checkDoc
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Devices) != len(tr.Funcs) || rep.Hypervisor {
		t.Fatalf("%d devices (want %d), hypervisor %v", len(rep.Devices), len(tr.Funcs), rep.Hypervisor)
	}
	byBDF := map[xl.PciBdf]hotplug.DeviceReport{}
	for _, d := range rep.Devices {
		byBDF[d.BDF] = d
	}
	var conv []xl.PciBdf
	for _, f := range tr.Funcs {
		if f.Kind == pcitest.PCIDevice {
			conv = append(conv, f.BDF)
		}
	}
	for _, f := range tr.Funcs {
		d := byBDF[f.BDF]
		kind := d.Verdict
		var want string
		switch {
		case f.Kind == pcitest.HostBridgeNode, f.Kind == pcitest.RootPort, f.Kind == pcitest.SwitchUp,
			f.Kind == pcitest.SwitchDown, f.Kind == pcitest.PCIeToPCI, f.Kind == pcitest.LegacyBridge,
			f.Node.BlockDev != "", f.Node.NetDev != "", f.Node.NumVFs > 0 && !f.IsVF:
			want = "refused"
		case f.Kind == pcitest.PCIDevice, f.Node.Funcs > 1 && !f.Node.FLR, belowPortWithoutACS(tr, f):
			want = "caution"
		default:
			want = "needs_hiding"
		}
		if kind != want {
			t.Errorf("%s (%s): verdict %q, want %s", f.BDF, f.Driver, d.Verdict, want)
		}
		if d.Driver != f.Driver {
			t.Errorf("%s: driver %q, want %q", f.BDF, d.Driver, f.Driver)
		}
		if f.Kind == pcitest.PCIDevice {
			if len(d.Group) != len(conv) || d.Bus != "conventional" {
				t.Errorf("%s: group %v bus %s, want %v conventional", f.BDF, d.Group, d.Bus, conv)
			}
		} else if d.Group != nil {
			t.Errorf("%s: group %v for a non-conventional function", f.BDF, d.Group)
		}
		if f.IsVF && (d.SRIOV == nil || d.SRIOV.Role != "vf" || *d.SRIOV.PF != f.PF) {
			t.Errorf("%s: sriov %+v, want VF of %s", f.BDF, d.SRIOV, f.PF)
		}
	}
}

func TestCheckTextAndMissing(t *testing.T) {
	tr, argv := checkTree(t)
	var conv *pcitest.Func
	for _, f := range tr.Funcs {
		if f.Kind == pcitest.PCIDevice {
			conv = f
			break
		}
	}
	out, _, code := run(t, cmdArgs(argv, "check", "--no-libxl", conv.BDF.String())...)
	if code != 0 || !strings.Contains(out, "group") || !strings.Contains(out, conv.BDF.String()) {
		t.Errorf("exit %d, text report:\n%s", code, out)
	}
	_, _, code = run(t, cmdArgs(argv, "check", "--no-libxl", "0000:7f:00.0")...)
	if code != exitFailed {
		t.Errorf("absent device: exit %d, want %d", code, exitFailed)
	}
	_, _, code = run(t, cmdArgs(argv, "check", "--no-libxl", "zz")...)
	if code != exitUsage {
		t.Errorf("malformed BDF: exit %d, want %d", code, exitUsage)
	}
}

func TestHideCmdline(t *testing.T) {
	tr, argv := checkTree(t)
	var conv []string
	for _, f := range tr.Funcs {
		if f.Kind == pcitest.PCIDevice {
			conv = append(conv, f.BDF.String())
		}
	}
	out, errOut, code := run(t, cmdArgs(argv, "hide-cmdline", conv[1], conv[0])...)
	want := "xen-pciback.hide=(" + conv[0] + ")(" + conv[1] + ")\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, out %q, want %q", code, out, want)
	}
	if !strings.Contains(errOut, "same domain") || !strings.Contains(errOut, conv[2]) {
		t.Errorf("split group not warned about %s: %q", conv[2], errOut)
	}
	out, errOut, _ = run(t, cmdArgs(argv, append([]string{"hide-cmdline"}, conv...)...)...)
	if strings.Contains(errOut, "same domain") || !strings.HasPrefix(out, "xen-pciback.hide=(") {
		t.Errorf("whole group: out %q, warnings %q", out, errOut)
	}
	if _, _, code := run(t, cmdArgs(argv, "hide-cmdline", "0000:7f:00.0")...); code != exitFailed {
		t.Errorf("absent device: exit %d", code)
	}
}

// belowPortWithoutACS: f sits below a switch downstream port whose ACS is
// missing or not fully enabled, per the generated topology.
func belowPortWithoutACS(tr *pcitest.Tree, f *pcitest.Func) bool {
	for _, p := range tr.Funcs {
		if p.Kind == pcitest.SwitchDown && strings.HasPrefix(f.Path, p.Path+"/") &&
			(p.Node.NoACS || p.Node.ACSCtrl != 0) {
			return true
		}
	}
	return false
}

// BenchmarkCheckJSON is `xlpt check --json` in-process on a 4096-function
// tree (scripts/bench/scan.sh times the binary against lspci).
func BenchmarkCheckJSON(b *testing.B) {
	dir := pcitest.TempDir(b)
	if _, err := pcitest.Generate(dir, pcitest.Large(4096)); err != nil {
		b.Fatal(err)
	}
	proc := b.TempDir()
	os.MkdirAll(filepath.Join(proc, "net"), 0o755)
	os.WriteFile(filepath.Join(proc, "mounts"), nil, 0o644)
	os.WriteFile(filepath.Join(proc, "net/route"), nil, 0o644)
	for i := 0; i < b.N; i++ {
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		if err := app.Run([]string{"xlpt", "--sysfs-root", dir, "--config", "/nonexistent", "--proc-root", proc, "check", "--json", "--no-libxl"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A function in a PCI segment above ffff (Intel VMD: 10000:00:00.0) was
// skipped by check without a word; it is listed, refused, saying why.
func TestCheckSegmentAboveFFFF(t *testing.T) {
	tr, argv := checkTree(t)
	vmd := filepath.Join(tr.Root, "devices/pci10000:00/10000:00:00.0")
	os.MkdirAll(vmd, 0o755)
	if err := os.Symlink(vmd, filepath.Join(tr.Root, "bus/pci/devices/10000:00:00.0")); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, cmdArgs(argv, "check", "--json", "--no-libxl")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Devices []struct{ BDF, Verdict, Message string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	last := doc.Devices[len(doc.Devices)-1]
	if len(doc.Devices) != len(tr.Funcs)+1 || last.BDF != "10000:00:00.0" || last.Verdict != "refused" || !strings.Contains(last.Message, "above ffff") {
		t.Errorf("%d devices for %d functions + 1; last %+v", len(doc.Devices), len(tr.Funcs), last)
	}
	out, _, _ = run(t, cmdArgs(argv, "check", "--no-libxl")...)
	if !strings.Contains(out, "10000:00:00.0\n  verdict      refused") {
		t.Errorf("text report lacks the VMD function:\n%s", out)
	}
}

// fullScanGC turns the collector off and puts it back (tests run many
// commands in one process); GOGC set by the user wins.
func TestFullScanGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	restore := fullScanGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("during a full scan: GC percent %d, want off", p)
	}
	restore()
	if p := debug.SetGCPercent(77); p != 77 {
		t.Errorf("after: GC percent %d, want 77 back", p)
	}
	t.Setenv("GOGC", "50")
	fullScanGC()()
	if p := debug.SetGCPercent(77); p != 77 {
		t.Errorf("with GOGC set: GC percent %d, want it left alone", p)
	}
}
