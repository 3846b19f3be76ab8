package pcibind_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

func writeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

func TestInUseAndRefusals(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	var nvme, nic, bridge, host, plain, pf xl.PciBdf
	for _, f := range tr.Funcs {
		switch {
		case f.Node.BlockDev != "":
			nvme = f.BDF
		case f.Node.NetDev != "":
			nic = f.BDF
		case f.Kind == pcitest.PCIeToPCI:
			bridge = f.BDF
		case f.Kind == pcitest.HostBridgeNode:
			host = f.BDF
		case f.Driver == "e1000e":
			plain = f.BDF
		case f.Node.NumVFs > 0 && !f.IsVF:
			pf = f.BDF
		}
	}
	proc := writeProc(t, map[string]string{
		"mounts": "proc /proc proc rw 0 0\n/dev/nvme0n1p1 /srv\\040data ext4 rw 0 0\n",
		// A non-default route via another interface must not count.
		"net/route": routeHeader + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
			"eth9\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
	})
	s := pcibind.New(tr.Root, pcibind.WithProcRoot(proc))
	uses, err := s.InUse()
	if err != nil {
		t.Fatal(err)
	}
	got := map[xl.PciBdf]string{}
	for _, u := range uses {
		got[u.BDF] += u.Reason
	}
	if len(got) != 2 || !strings.Contains(got[nvme], "/srv data") || !strings.Contains(got[nic], "eth0") {
		t.Errorf("InUse = %v; want the NVMe (%s) for /srv data and the NIC (%s) for eth0", uses, nvme, nic)
	}
	h, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []xl.PciBdf{nvme, nic, bridge, host, pf} {
		if rs := h.Refusals(b, uses); len(rs) == 0 {
			t.Errorf("%s: no refusal", b)
		}
		err := h.CheckHide(b, uses, false)
		if !errors.Is(err, pcibind.ErrRefused) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s: CheckHide = %v", b, err)
		}
		if err := h.CheckHide(b, uses, true); err != nil {
			t.Errorf("%s: forced CheckHide = %v", b, err)
		}
	}
	if rs := h.Refusals(plain, uses); len(rs) != 0 {
		t.Errorf("%s refused: %v", plain, rs)
	}
	// Without /proc nobody can say the device is free.
	if _, err := pcibind.New(tr.Root, pcibind.WithProcRoot(t.TempDir())).InUse(); err == nil {
		t.Errorf("InUse without /proc succeeded")
	}
}

func TestInUseRealHost(t *testing.T) {
	if _, err := os.Stat("/proc/mounts"); err != nil {
		t.Skip("no /proc")
	}
	uses, err := pcibind.New("/sys").InUse()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uses {
		if _, err := os.Stat("/sys/bus/pci/devices/" + u.BDF.String()); err != nil {
			t.Errorf("InUse reported %v, which does not exist", u)
		}
	}
	// Cross-check by another route: the block device holding "/" per
	// its st_dev and /sys/dev/block/MAJ:MIN must be among the uses when
	// it sits on PCI.
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err == nil {
		var want string
		for _, p := range strings.Split(real, "/") {
			if _, err := pcibind.ParseSysfsBdf(p); err == nil {
				want = p
			}
		}
		found := want == ""
		for _, u := range uses {
			found = found || u.BDF.String() == want
		}
		if !found {
			t.Errorf("root filesystem is on %s (%s), not among %v", want, real, uses)
		}
	}
	t.Logf("in use on this host: %v", uses)
}
