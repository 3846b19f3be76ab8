package pcibind_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

func TestOpenByNamesProcessesAndLiveNICs(t *testing.T) {
	serial := &pcitest.Node{Kind: pcitest.Endpoint, Vendor: 0x1af4, Device: 0x1043, Driver: "virtio-pci"}
	nic := &pcitest.Node{Kind: pcitest.Endpoint, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e", NetDev: "eth1"}
	idle := &pcitest.Node{Kind: pcitest.Endpoint, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e", NetDev: "eth2"}
	tree, err := pcitest.Generate(t.TempDir(), pcitest.Topology{Drivers: []string{"virtio-pci", "e1000e"},
		Root: []*pcitest.Node{{Kind: pcitest.HostBridgeNode}, serial, nic, idle}})
	if err != nil {
		t.Fatal(err)
	}
	var bSerial, bNic, bIdle xl.PciBdf
	for _, f := range tree.Funcs {
		switch f.Node {
		case serial:
			bSerial = f.BDF
		case nic:
			bNic = f.BDF
		case idle:
			bIdle = f.BDF
		}
	}
	w := func(p, body string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev := filepath.Join(tree.Root, "bus/pci/devices", bSerial.String())
	w(dev+"/virtio0/virtio-ports/vport0p1/uevent", "MAJOR=248\nMINOR=1\nDEVNAME=vport0p1\n")
	w(dev+"/virtio0/virtio-ports/vport0p2/uevent", "MAJOR=248\nMINOR=2\nDEVNAME=vport0p2\n")
	w(filepath.Join(tree.Root, "class/net/eth1/operstate"), "up\n")
	w(filepath.Join(tree.Root, "class/net/eth2/operstate"), "down\n")
	proc := t.TempDir()
	w(proc+"/net/route", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nnot-eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")
	w(proc+"/net/if_inet6", "fe800000000000000000000000000001 02 40 20 80 eth1\n20010db8000000000000000000000001 02 40 00 80 eth1\n")
	for pid, fds := range map[string][]string{"412": {"/dev/null", "/dev/vport0p1", "/dev/vport0p1"}, "77": {"/dev/vport0p1"}, "90": {"/dev/tty"}} {
		w(proc+"/"+pid+"/comm", map[string]string{"412": "tbagent", "77": "cat", "90": "sh"}[pid]+"\n")
		for i, f := range fds {
			if err := os.MkdirAll(proc+"/"+pid+"/fd", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(f, filepath.Join(proc, pid, "fd", string(rune('3'+i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := pcibind.New(tree.Root, pcibind.WithProcRoot(proc))
	uses, err := s.OpenBy([]xl.PciBdf{bSerial, bNic, bIdle})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		got = append(got, u.BDF.String()+" "+u.Reason)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		bSerial.String() + " has /dev/vport0p1 open by process",
		"412 (tbagent)", "77 (cat)",
		bNic.String() + " is up with an IPv6 address (eth1)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("uses lack %q:\n%s", want, all)
		}
	}
	if n := strings.Count(all, "412 (tbagent)"); n != 1 {
		t.Errorf("a process holding a node twice is named %d times:\n%s", n, all)
	}
	if strings.Contains(all, bIdle.String()) || strings.Contains(all, "vport0p2") || strings.Contains(all, "(sh)") {
		t.Errorf("reported what nobody holds:\n%s", all)
	}
}
