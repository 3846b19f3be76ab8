//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// Testbed device map (scripts/testbed/run has the full one).
const (
	nicHide   = "0000:00:03.0" // e1000e: pciback hide + give back
	bridge    = "0000:00:04.0" // pcie-pci-bridge -> bus 01
	brNic1    = "0000:01:01.0" // e1000 behind the bridge
	brNic2    = "0000:01:02.0" // e1000 behind the bridge
	nicPV     = "0000:00:05.0" // e1000e: PV guest at creation, detach/re-attach
	nicStub   = "0000:00:06.0" // e1000e: pci-stub
	nicBoot   = "0000:00:07.0" // e1000e: hidden at boot (xen-pciback.hide)
	nvmePF    = "0000:00:09.0" // nvme with SR-IOV
	sataAHCI  = "0000:00:1f.2" // q35 AHCI: never assignable here
	e1000eID  = "0x8086:0x10d3"
	nvmeVF1   = "0000:00:09.1"
	pvName    = "pv1"
	pvTimeout = 120 * time.Second
)

// sh runs cmd in dom0 and returns what it printed; the test fails if the
// command cannot be run or exits non-zero.
func sh(t *testing.T, cmd string) string {
	t.Helper()
	out, serr, code := shExit(t, cmd)
	if code != 0 {
		t.Fatalf("dom0: %s\nexit %d\nstdout:\n%s\nstderr:\n%s", cmd, code, out, serr)
	}
	return out
}

// shExit runs cmd in dom0 and returns stdout, stderr and the exit code;
// the test fails only if the command cannot be run.
func shExit(t *testing.T, cmd string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	stdout, stderr, exit, err := tb.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("dom0: %s: %v\n%s", cmd, err, tb.LogTail(40))
	}
	t.Logf("dom0$ %s  [exit %d, %.2fs]%s%s", cmd, exit, time.Since(start).Seconds(),
		indent("stdout", stdout), indent("stderr", stderr))
	if err := testbed.CheckJSON(cmd, stdout); err != nil {
		t.Error(err)
	}
	return stdout, stderr, exit
}

func indent(what, s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "\n  " + what + ":\n    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// driver returns the dom0 driver bound to bdf, or "-".
func driver(t *testing.T, bdf string) string {
	t.Helper()
	return strings.TrimSpace(sh(t, fmt.Sprintf(
		`if cd -P /sys/bus/pci/devices/%s/driver 2>/dev/null; then echo "${PWD##*/}"; else echo -; fi`, bdf)))
}

func wantDriver(t *testing.T, bdf, want string) {
	t.Helper()
	if got := driver(t, bdf); got != want {
		t.Fatalf("%s: dom0 driver is %q, want %q", bdf, got, want)
	}
}

// assignable returns xlpt pci-assignable-list, one BDF a line, sorted.
func assignable(t *testing.T) []string {
	t.Helper()
	return sortedLines(sh(t, "xlpt pci-assignable-list"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// makeAssignable hides bdf with xlpt unless it is already assignable.
func makeAssignable(t *testing.T, bdf string) {
	t.Helper()
	if !contains(assignable(t), bdf) {
		out := sh(t, "xlpt pci-assignable-add "+bdf)
		if !strings.Contains(out, bdf+" is assignable") {
			t.Fatalf("xlpt pci-assignable-add %s printed %q, want %q", bdf, out, bdf+" is assignable")
		}
	}
	wantDriver(t, bdf, "pciback")
}

// pciRow is one row of xlpt pci-list's table "VSlt domain bus slot func".
type pciRow struct{ VSlot, Domain, Bus, Slot, Func uint64 }

func (r pciRow) BDF() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", r.Domain, r.Bus, r.Slot, r.Func)
}

// pciList runs xlpt pci-list DOM, checks the header and parses the rows.
func pciList(t *testing.T, dom string) []pciRow {
	t.Helper()
	out := sh(t, "xlpt pci-list "+dom)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "VSlt domain bus slot func" {
		t.Fatalf("xlpt pci-list %s: header %q, want \"VSlt domain bus slot func\"", dom, lines[0])
	}
	var rows []pciRow
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("xlpt pci-list %s: row %q has %d fields, want 5", dom, l, len(f))
		}
		var v [5]uint64
		for i, s := range f {
			n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 16)
			if err != nil {
				t.Fatalf("xlpt pci-list %s: row %q: %v", dom, l, err)
			}
			v[i] = n
		}
		rows = append(rows, pciRow{v[0], v[1], v[2], v[3], v[4]})
	}
	return rows
}

// guestDev is one line the guest's /init prints for a PCI device.
type guestDev struct{ BDF, ID, Class, Driver string }

var guestPCIRe = regexp.MustCompile(`GUEST-PCI: (\S+) (\S+) class=(\S+) driver=(\S+)`)

// lastGuestPCI returns the last complete device list in a guest log.
func lastGuestPCI(log string) (devs []guestDev, ok bool) {
	var cur []guestDev
	in := false
	for _, l := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(l, "GUEST-PCI-BEGIN"):
			cur, in = nil, true
		case strings.Contains(l, "GUEST-PCI-END"):
			if in {
				devs, ok, in = cur, true, false
			}
		case in:
			if m := guestPCIRe.FindStringSubmatch(l); m != nil {
				cur = append(cur, guestDev{m[1], m[2], m[3], strings.TrimSpace(m[4])})
			}
		}
	}
	return devs, ok
}

func findGuestDev(devs []guestDev, bdf string) (guestDev, bool) {
	for _, d := range devs {
		if d.BDF == bdf {
			return d, true
		}
	}
	return guestDev{}, false
}

// guest is a domain the tests create once and share.
type guest struct {
	name, kind, log string
	once            sync.Once
	created         time.Time
	err             error
	ready           bool
}

var pv = &guest{name: pvName, kind: "pv", log: "/var/log/xen/console/guest-" + pvName + ".log"}

// waitGuest polls the guest's console until the last device list it
// printed satisfies ok; it returns that list.
func waitGuest(t *testing.T, g *guest, what string, timeout time.Duration, ok func([]guestDev) bool) []guestDev {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, _, _, err := tb.Run(ctx, "grep -a GUEST "+g.log)
		cancel()
		if err != nil {
			t.Fatalf("reading %s: %v", g.log, err)
		}
		if devs, complete := lastGuestPCI(out); complete && ok(devs) {
			t.Logf("guest %s: %s; it lists:\n%s", g.name, what, formatDevs(devs))
			return devs
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest %s: not %s after %s; its GUEST lines:\n%s\n%s", g.name, what, timeout,
				out, diag(t, g))
		}
		time.Sleep(2 * time.Second)
	}
}

func formatDevs(devs []guestDev) string {
	var b strings.Builder
	for _, d := range devs {
		fmt.Fprintf(&b, "    %s %s class=%s driver=%s\n", d.BDF, d.ID, d.Class, d.Driver)
	}
	return strings.TrimRight(b.String(), "\n")
}

// waitReady waits for the guest's "GUEST: READY" line.
func waitReady(t *testing.T, g *guest, timeout time.Duration) {
	t.Helper()
	if g.ready {
		return
	}
	out, serr, code := shExit(t, fmt.Sprintf("tb-wait %s 'GUEST: READY' %d", g.log, int(timeout.Seconds())))
	if code != 0 {
		t.Fatalf("guest %s did not boot in %s: %s\n%s", g.name, timeout, serr, diag(t, g))
	}
	g.ready = true
	d := time.Since(g.created)
	t.Logf("guest %s (%s) booted: xl create to GUEST: READY %.1fs (%s)", g.name, g.kind, d.Seconds(), strings.TrimSpace(out))
	record("%-30s %6.1fs  (xl create to READY)", g.kind+" guest boot", d.Seconds())
}

// create runs xl create for the guest once; later calls return the first
// outcome.
func (g *guest) create(t *testing.T, pciList string, extra ...string) {
	t.Helper()
	g.once.Do(func() {
		q := make([]string, len(extra))
		for i, e := range extra {
			q[i] = shellQuote(e)
		}
		cfg := fmt.Sprintf("tb-cfg %s %s %s %s", g.kind, g.name, shellQuote(pciList), strings.Join(q, " "))
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, serr, code, err := tb.Run(ctx, cfg+" >/dev/null && xl create /etc/xen/"+g.name+".cfg")
		g.created = start
		switch {
		case err != nil:
			g.err = err
		case code != 0:
			g.err = fmt.Errorf("xl create %s: exit %d\n%s%s", g.name, code, out, serr)
		}
		record("%-30s %6.1fs", "xl create "+g.name+" ("+g.kind+")", time.Since(start).Seconds())
	})
	if g.err != nil {
		t.Fatalf("guest %s: %v", g.name, g.err)
	}
}

// diag returns what helps to see why a guest is not where it should be.
func diag(t *testing.T, g *guest) string {
	t.Helper()
	return sh(t, "echo '--- console:'; tail -n 30 "+g.log+"; echo '--- xl list:'; xl list; "+
		"echo '--- xl dmesg:'; xl dmesg | grep -vE 'memory_map|ioport_map' | tail -n 20; "+
		"echo '--- device model:'; tail -n 10 /var/log/xen/qemu-dm-"+g.name+".log 2>/dev/null; true")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
