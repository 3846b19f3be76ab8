package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/report"
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
	var rep report.CheckDoc
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

// A recorded tree without proc/ beside it: --sysfs-root takes /proc from
// beside the tree, never from the real host, so what dom0 uses is
// unknown. That is said once, with the fix, and is a caution on each
// device, not the same refusal of every one (issue 22).
func TestCheckRecordedTreeWithoutProc(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tr.Root, "proc")); err == nil {
		t.Fatal("the sample has a proc/")
	}
	out, errs, code := run(t, "--sysfs-root", tr.Root, "check", "--json", "--no-libxl")
	var rep report.CheckDoc
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v, stderr %q", code, err, errs)
	}
	if strings.Count(errs, "no /proc was recorded") != 1 || !strings.Contains(errs, "--proc-root") {
		t.Errorf("stderr %q; want one warning naming the fix", errs)
	}
	refused, unknown := 0, 0
	for _, d := range rep.Devices {
		for _, r := range d.Reasons {
			if strings.Contains(r, "cannot tell whether dom0 uses it") {
				refused++
			}
			if strings.Contains(r, "dom0's use of it is unknown") {
				unknown++
			}
		}
	}
	if refused > 0 || unknown == 0 {
		t.Errorf("%d devices refused for the missing /proc, %d cautioned; want 0 and some", refused, unknown)
	}
}

// check names an intent record still open for a device, with its
// operation, pid and time: after a pci-assignable-add killed before
// libxl's unbind the device must not read as merely "needs hiding"
// (issue 22). A live pid means a run is at work: busy.
func TestCheckNamesOpenIntentRecords(t *testing.T) {
	tr, argv := checkTree(t)
	var nic string
	for _, f := range tr.Funcs {
		if f.Driver == "ixgbe" {
			nic = f.BDF.String()
		}
	}
	state := t.TempDir()
	j := hotplug.NewJournal(state)
	b, _, _ := xl.ParseBdf(nic)
	rec := &hotplug.Record{Op: hotplug.OpHide, Devices: []hotplug.Intent{{BDF: b, Driver: "ixgbe"}}, Cmdline: "xlpt pci-assignable-add " + nic}
	if err := j.Begin(rec); err != nil {
		t.Fatal(err)
	}
	proc := argv[len(argv)-1]
	check := func() hotplug.DeviceReport {
		t.Helper()
		out, errs, code := run(t, cmdArgs(argv, "check", "--json", "--no-libxl", "--state-dir", state, nic)...)
		var rep report.CheckDoc
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Devices) != 1 {
			t.Fatalf("exit %d, %v, %s", code, err, errs)
		}
		return rep.Devices[0]
	}
	d := check()
	op := d.OpenOperation
	if d.Verdict != hotplug.VerdictInconsistent || op == nil || op.Op != "hide" || op.PID != os.Getpid() || op.Running ||
		op.Time != rec.Time.UTC().Format(time.RFC3339) || !strings.Contains(d.Message, "xlpt recover") ||
		!strings.Contains(d.Message, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("dead run's record: %+v (open %+v); want inconsistent naming hide, the pid, the time and xlpt recover", d, op)
	}
	os.MkdirAll(filepath.Join(proc, strconv.Itoa(os.Getpid())), 0o755)
	if d := check(); d.Verdict != hotplug.VerdictBusy || d.OpenOperation == nil || !d.OpenOperation.Running {
		t.Errorf("live run's record: %+v; want busy", d)
	}
	out, _, _ := run(t, cmdArgs(argv, "check", "--no-libxl", "--state-dir", state, nic)...)
	if !strings.Contains(out, "verdict      busy") || !strings.Contains(out, "make "+nic+" assignable") {
		t.Errorf("text:\n%s", out)
	}
}

// --summary counts by verdict, owner and kind; --oneline prints a line
// per device; --verdict filters both (issue 22).
func TestCheckSummaryOnelineAndFilter(t *testing.T) {
	tr, argv := checkTree(t)
	out, _, code := run(t, cmdArgs(argv, "check", "--json", "--no-libxl")...)
	var rep report.CheckDoc
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatal(err)
	}
	s := rep.Summary
	total := 0
	for _, n := range s.ByVerdict {
		total += n
	}
	if s.Devices != len(tr.Funcs) || total != s.Devices || s.ByKind["network"] == 0 || s.ByKind["bridge"] == 0 || s.ByOwner["dom0_driver"] == 0 {
		t.Errorf("summary %+v for %d functions", s, len(tr.Funcs))
	}
	out, _, _ = run(t, cmdArgs(argv, "check", "--no-libxl", "--summary")...)
	if !strings.HasPrefix(out, fmt.Sprintf("%d devices\n", len(tr.Funcs))) || !strings.Contains(out, "  verdict  ") ||
		!strings.Contains(out, "  owner    ") || !strings.Contains(out, "  kind     ") || strings.Contains(out, "reset") {
		t.Errorf("--summary:\n%s", out)
	}
	out, _, _ = run(t, cmdArgs(argv, "check", "--no-libxl", "--oneline")...)
	if n := strings.Count(out, "\n"); n != len(tr.Funcs) {
		t.Errorf("--oneline: %d lines for %d functions:\n%s", n, len(tr.Funcs), out)
	}
	out, _, _ = run(t, cmdArgs(argv, "check", "--no-libxl", "--oneline", "--verdict", "refused")...)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "refused" {
			t.Errorf("--verdict refused kept %q", l)
		}
	}
	out, _, _ = run(t, cmdArgs(argv, "check", "--json", "--no-libxl", "--verdict", "needs_hiding,caution")...)
	rep = report.CheckDoc{}
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Devices) == 0 || rep.Summary.Devices != len(rep.Devices) || rep.Summary.ByVerdict["refused"] != 0 {
		t.Errorf("--verdict needs_hiding,caution: %d devices, summary %+v", len(rep.Devices), rep.Summary)
	}
	if _, errs, code := run(t, cmdArgs(argv, "check", "--verdict", "fine")...); code != 2 || !strings.Contains(errs, `"fine" is not a verdict`) {
		t.Errorf("--verdict fine: exit %d, %q", code, errs)
	}
}
