package pcibind_test

import (
	"bufio"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// lspciDev is what the tests take from one `lspci -vvv -n -D` block.
type lspciDev struct {
	vendor, device uint16
	class          uint32 // class<<8 | prog-if; prog-if only when printed
	driver         string
	irq            int
	numa           int
	caps           map[string]int // capability name -> offset
	noSoftRst      *bool
	flr            *bool // DevCap FLReset
	afFLR          *bool
	pcieType       string
	acsCtl         *uint16
	totalVFs       int
	numVFs         int
	vfOffset       int
	vfStride       int
	vfDevice       uint16
	sec, sub       int
	region0        uint64
}

var (
	reHeader  = regexp.MustCompile(`^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ([0-9a-f]{4}): ([0-9a-f]{4}):([0-9a-f]{4})`)
	reProgIf  = regexp.MustCompile(`\(prog-if ([0-9a-f]{2})`)
	reCap     = regexp.MustCompile(`^\tCapabilities: \[([0-9a-f]+)(?: v\d+)?\] (.*)$`)
	reExpress = regexp.MustCompile(`^Express \(v\d\) (.*?)(?: \(Slot[+-]\))?, (?:MSI|IntMsgNum) \d+`)
	reIRQ     = regexp.MustCompile(`routed to IRQ (\d+)`)
	reVFs     = regexp.MustCompile(`Total VFs: (\d+), Number of VFs: (\d+)`)
	reVFOff   = regexp.MustCompile(`VF offset: (\d+), stride: (\d+), Device ID: ([0-9a-f]+)`)
	reBus     = regexp.MustCompile(`Bus: primary=[0-9a-f]+, secondary=([0-9a-f]+), subordinate=([0-9a-f]+)`)
	reRegion0 = regexp.MustCompile(`^\tRegion 0: Memory at ([0-9a-f]+)`)
)

// capName maps lspci's capability titles to short names.
func capName(title string) string {
	switch {
	case strings.HasPrefix(title, "Power Management"):
		return "pm"
	case strings.HasPrefix(title, "MSI-X"):
		return "msix"
	case strings.HasPrefix(title, "MSI"):
		return "msi"
	case strings.HasPrefix(title, "Express"):
		return "pcie"
	case strings.HasPrefix(title, "PCI Advanced Features"):
		return "af"
	case strings.HasPrefix(title, "Advanced Error Reporting"):
		return "aer"
	case strings.HasPrefix(title, "Access Control Services"):
		return "acs"
	case strings.HasPrefix(title, "Alternative Routing-ID"):
		return "ari"
	case strings.HasPrefix(title, "Single Root I/O Virtualization"):
		return "sriov"
	}
	return ""
}

// acsBits are lspci's ACSCtl names in bit order.
var acsBits = []string{"SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans"}

func boolp(b bool) *bool { return &b }

// runLspci runs lspci on a sysfs root (nil-skips when lspci is missing)
// and parses its blocks by BDF.
func runLspci(t *testing.T, sysRoot string) map[xl.PciBdf]*lspciDev {
	t.Helper()
	if _, err := exec.LookPath("lspci"); err != nil {
		t.Skip("lspci not installed")
	}
	out, err := exec.Command("lspci", "-A", "linux-sysfs", "-O", "sysfs.path="+sysRoot+"/bus/pci", "-vvv", "-n", "-D").Output()
	if err != nil {
		t.Fatalf("lspci: %v", err)
	}
	devs := map[xl.PciBdf]*lspciDev{}
	var cur *lspciDev
	var curCap string
	inDevCap := false
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if m := reHeader.FindStringSubmatch(line); m != nil {
			b, err := pcibind.ParseSysfsBdf(m[1])
			if err != nil {
				t.Fatalf("lspci header %q: %v", line, err)
			}
			cl, _ := strconv.ParseUint(m[2], 16, 16)
			v, _ := strconv.ParseUint(m[3], 16, 16)
			d, _ := strconv.ParseUint(m[4], 16, 16)
			cur = &lspciDev{vendor: uint16(v), device: uint16(d), class: uint32(cl) << 8, numa: -1, caps: map[string]int{}}
			if pm := reProgIf.FindStringSubmatch(line); pm != nil {
				pi, _ := strconv.ParseUint(pm[1], 16, 8)
				cur.class |= uint32(pi)
			}
			devs[b] = cur
			curCap = ""
			continue
		}
		if cur == nil {
			continue
		}
		if m := reCap.FindStringSubmatch(line); m != nil {
			off, _ := strconv.ParseUint(m[1], 16, 16)
			curCap = capName(m[2])
			inDevCap = false
			if curCap != "" {
				if _, dup := cur.caps[curCap]; !dup {
					cur.caps[curCap] = int(off)
				}
			}
			if e := reExpress.FindStringSubmatch(m[2]); e != nil {
				cur.pcieType = e[1]
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "Kernel driver in use:"):
			cur.driver = strings.TrimSpace(strings.TrimPrefix(trimmed, "Kernel driver in use:"))
		case strings.HasPrefix(trimmed, "NUMA node:"):
			cur.numa, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(trimmed, "NUMA node:")))
		case strings.HasPrefix(trimmed, "Interrupt:"):
			if m := reIRQ.FindStringSubmatch(trimmed); m != nil {
				cur.irq, _ = strconv.Atoi(m[1])
			}
		case reBus.MatchString(trimmed):
			m := reBus.FindStringSubmatch(trimmed)
			s1, _ := strconv.ParseUint(m[1], 16, 8)
			s2, _ := strconv.ParseUint(m[2], 16, 8)
			cur.sec, cur.sub = int(s1), int(s2)
		case reRegion0.MatchString(line):
			m := reRegion0.FindStringSubmatch(line)
			cur.region0, _ = strconv.ParseUint(m[1], 16, 64)
		}
		switch curCap {
		case "pm":
			if strings.HasPrefix(trimmed, "Status:") {
				cur.noSoftRst = boolp(strings.Contains(trimmed, "NoSoftRst+"))
			}
		case "pcie":
			if strings.HasPrefix(trimmed, "DevCap:") {
				inDevCap = true
			} else if inDevCap {
				// DevCap's second line carries FLReset.
				if strings.Contains(trimmed, "FLReset") {
					cur.flr = boolp(strings.Contains(trimmed, "FLReset+"))
				}
				inDevCap = false
			}
		case "af":
			if strings.HasPrefix(trimmed, "AFCap:") {
				cur.afFLR = boolp(strings.Contains(trimmed, "FLR+"))
			}
		case "acs":
			if strings.HasPrefix(trimmed, "ACSCtl:") {
				var v uint16
				for i, n := range acsBits {
					if strings.Contains(trimmed, n+"+") {
						v |= 1 << i
					}
				}
				cur.acsCtl = &v
			}
		case "sriov":
			if m := reVFs.FindStringSubmatch(trimmed); m != nil {
				cur.totalVFs, _ = strconv.Atoi(m[1])
				cur.numVFs, _ = strconv.Atoi(m[2])
			}
			if m := reVFOff.FindStringSubmatch(trimmed); m != nil {
				cur.vfOffset, _ = strconv.Atoi(m[1])
				cur.vfStride, _ = strconv.Atoi(m[2])
				v, _ := strconv.ParseUint(m[3], 16, 16)
				cur.vfDevice = uint16(v)
			}
		}
	}
	if len(devs) == 0 {
		t.Fatalf("lspci printed no devices for %s", sysRoot)
	}
	return devs
}

// lspciTypes maps lspci's Express titles to our port types.
var lspciTypes = map[string]pcibind.PCIeType{
	"Endpoint":                         pcibind.PCIeEndpoint,
	"Legacy Endpoint":                  pcibind.PCIeLegacyEndpoint,
	"Root Port":                        pcibind.PCIeRootPort,
	"Upstream Port":                    pcibind.PCIeUpstreamPort,
	"Downstream Port":                  pcibind.PCIeDownstreamPort,
	"PCI-Express to PCI/PCI-X Bridge":  pcibind.PCIeToPCIBridge,
	"PCI/PCI-X to PCI-Express Bridge":  pcibind.PCIToPCIeBridge,
	"Root Complex Integrated Endpoint": pcibind.PCIeRCEndpoint,
	"Root Complex Event Collector":     pcibind.PCIeRCEventColl,
}

// compareWithLspci checks every scanned device against lspci's view of
// the same tree. It returns the number of facts compared so a caller can
// tell a vacuous run from a real one.
func compareWithLspci(t *testing.T, h *pcibind.Host, ls map[xl.PciBdf]*lspciDev) int {
	t.Helper()
	n := 0
	if len(ls) != len(h.Devices) {
		t.Errorf("lspci lists %d functions, scan found %d", len(ls), len(h.Devices))
	}
	for _, d := range h.Devices {
		l, ok := ls[d.BDF]
		if !ok {
			t.Errorf("%s: not in lspci output", d.BDF)
			continue
		}
		check := func(what string, got, want any) {
			t.Helper()
			n++
			if got != want {
				t.Errorf("%s: %s = %v, lspci says %v", d.BDF, what, got, want)
			}
		}
		check("vendor", d.Vendor, l.vendor)
		check("device", d.Device, l.device)
		check("class", d.Class>>8, l.class>>8)
		if l.class&0xff != 0 {
			check("prog-if", d.Class&0xff, l.class&0xff)
		}
		check("driver", d.Driver, l.driver)
		if l.irq != 0 {
			check("irq", d.IRQ, l.irq)
		}
		check("numa", d.NUMANode, l.numa)
		if l.region0 != 0 {
			got := uint64(0)
			for _, b := range d.BARs {
				if b.Index == 0 {
					got = b.Start
				}
			}
			check("region 0", got, l.region0)
		}
		if !d.ConfigComplete() {
			continue // lspci as non-root sees as little as we do
		}
		offs := map[string]int{}
		if c := d.Caps; true {
			if c.PM != nil {
				offs["pm"] = c.PM.Offset
			}
			if c.PCIe != nil {
				offs["pcie"] = c.PCIe.Offset
			}
			if c.AF != nil {
				offs["af"] = c.AF.Offset
			}
			if c.ACS != nil {
				offs["acs"] = c.ACS.Offset
			}
			if c.ARI != nil {
				offs["ari"] = c.ARI.Offset
			}
			if c.SRIOV != nil {
				offs["sriov"] = c.SRIOV.Offset
			}
			if off, ok := d.Config.FindCap(pcibind.CapMSI); ok {
				offs["msi"] = off
			}
			if off, ok := d.Config.FindCap(pcibind.CapMSIX); ok {
				offs["msix"] = off
			}
			if off, ok := d.Config.AER(); ok {
				offs["aer"] = off
			}
		}
		for name, off := range l.caps {
			got, ok := offs[name]
			check("capability "+name+" present", ok, true)
			if ok {
				check("capability "+name+" offset", got, off)
			}
		}
		for name := range offs {
			_, ok := l.caps[name]
			check("capability "+name+" known to lspci", ok, true)
		}
		if l.noSoftRst != nil && d.Caps.PM != nil {
			check("PM NoSoftRst", d.Caps.PM.NoSoftReset, *l.noSoftRst)
		}
		if l.flr != nil && d.Caps.PCIe != nil {
			check("DevCap FLR", d.Caps.PCIe.FLR, *l.flr)
		}
		if l.pcieType != "" && d.Caps.PCIe != nil {
			want, known := lspciTypes[l.pcieType]
			check("PCIe type known", known, true)
			check("PCIe type", d.Caps.PCIe.Type, want)
		}
		if l.afFLR != nil && d.Caps.AF != nil {
			check("AF FLR", d.Caps.AF.FLR, *l.afFLR)
		}
		if l.acsCtl != nil && d.Caps.ACS != nil {
			check("ACS ctrl", d.Caps.ACS.Ctrl&0x7f, *l.acsCtl)
		}
		if s := d.Caps.SRIOV; s != nil {
			check("total VFs", int(s.TotalVFs), l.totalVFs)
			check("num VFs", int(s.NumVFs), l.numVFs)
			check("VF offset", int(s.VFOffset), l.vfOffset)
			check("VF stride", int(s.VFStride), l.vfStride)
			check("VF device", s.VFDevice, l.vfDevice)
		}
		if _, sec, sub, ok := d.Config.BridgeBuses(); ok && l.sub != 0 {
			check("secondary bus", int(sec), l.sec)
			check("subordinate bus", int(sub), l.sub)
		}
	}
	return n
}
