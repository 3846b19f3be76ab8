//go:build e2e

// Package twohost shows live migration between two Xen 4.17 hosts whose
// devices sit at other addresses, as operators run it: two testbeds at
// once (scripts/testbed/run --net), joined only by a QEMU UDP socket
// netdev on 127.0.0.1, their dom0s at 192.0.2.1 (tb-a) and 192.0.2.2
// (tb-b) with ssh between them. Host B's passthrough NICs are at 00:15.0
// and 00:16.0 (run --layout b) where A's are at 00:05.0 and 00:06.0, and
// B's host setup comes from its /etc/xlpt/devices.conf, applied at its
// boot by xlpt restore. xlpt-migrate moves hvm1 A -> B over ssh (its
// default remote command, and xl migrate's), back B -> A; is refused by
// B's preflight when B lacks an assignable match; and runs once more with
// B's xl migrate-receive killed during the stream (the guest left in
// log-dirty mode, which xlpt-migrate's rollback turns off); B's attach
// failing. Then a plain xl migrate of the guest without devices, for the
// time xlpt-migrate adds; last a NIC and an SR-IOV VF, A -> B and back.
package twohost

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

const (
	// Under two emulated hosts on two cores a guest now and then
	// acknowledges an eject after libxl's 10 s (seen in 2 of 6 migrations
	// here, the eject done a few seconds late): xlpt keeps asking for 60 s.
	migrateCmd = "XLPT_MIGRATE_DETACH='--timeout 60' xlpt-migrate hvm1 "
	e1000e     = "0x8086:0x10d3"
	nvmeVF     = "0x1b36:0x0010" // a VF of the testbed's NVMe (no queues: no guest driver binds)
	plan       = "/var/lib/xlpt/migrate-hvm1.plan"
	// B's host setup, as an operator's --persist writes it.
	devicesConfB = "sriov       0000:00:19.0  1b36:0010  vfs=2 autoprobe=0\n" +
		"assignable  0000:00:19.1  1b36:0010  driver=pciback vf=0000:00:19.0/0\n" +
		"assignable  0000:00:15.0  8086:10d3  driver=pciback\n" +
		"assignable  0000:00:16.0  8086:10d3  driver=pciback\n"
)

// host is one of the two testbeds.
type host struct {
	name string // its dom0's host name (tb-a, tb-b)
	*testbed.Testbed
}

var (
	a, b    *host
	timings []string
	died    string // a step that failed with hvm1 gone from both hosts
)

func record(format string, args ...any) { timings = append(timings, fmt.Sprintf(format, args...)) }

// freeUDPPorts returns two UDP ports on 127.0.0.1 that were free.
func freeUDPPorts() (int, int, error) {
	var ports []int
	for range 2 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports[0], ports[1], nil
}

// bootBoth boots A and B together (half the wait of one after the other).
func bootBoth(ctx context.Context) error {
	pa, pb, err := freeUDPPorts()
	if err != nil {
		return err
	}
	overlay, err := os.MkdirTemp("", "xlpt-hostb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(overlay)
	if err := os.MkdirAll(filepath.Join(overlay, "etc", "xlpt"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(overlay, "etc", "xlpt", "devices.conf"), []byte(devicesConfB), 0o644); err != nil {
		return err
	}
	opts := []testbed.Options{
		{Name: "twohost-a", Output: os.Stderr, Net: fmt.Sprintf("%d:%d", pa, pb),
			Dom0Append: "xlpt.ip=192.0.2.1/24 xlpt.hostname=tb-a"},
		// No boot-time hide on B: its only assignable NICs are the two
		// its devices.conf names.
		{Name: "twohost-b", Output: os.Stderr, Net: fmt.Sprintf("%d:%d", pb, pa), Layout: "b", NoBootHide: true,
			Dom0Overlay: overlay, Dom0Append: "xlpt.ip=192.0.2.2/24 xlpt.hostname=tb-b"},
	}
	hosts, names := []**host{&a, &b}, []string{"tb-a", "tb-b"}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb, err := testbed.Boot(ctx, opts[i])
			if err != nil {
				errs[i] = fmt.Errorf("host %s: %w", opts[i].Name, err)
				return
			}
			*hosts[i] = &host{name: names[i], Testbed: tb}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	t0 := time.Now()
	err := bootBoth(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, testbed.BootFailed("e2e/twohost", err))
		closeAll()
		cancel()
		os.Exit(1)
	}
	record("%-44s %6.1fs", "two Xen boots, together, to dom0 agents", time.Since(t0).Seconds())
	code := m.Run()
	if code != 0 {
		for _, h := range []*host{a, b} {
			fmt.Fprintf(os.Stderr, "e2e/twohost: last lines of %s's serial log:\n%s\n", h.name, h.LogTail(40))
		}
		if died != "" {
			fmt.Printf("%s e2e/twohost: %s\n", testbed.GuestDied, died)
		}
	}
	closeAll()
	cancel()
	fmt.Printf("e2e/twohost timings:\n  %s\n", strings.Join(timings, "\n  "))
	os.Exit(code)
}

func closeAll() {
	for _, h := range []*host{a, b} {
		if h != nil {
			h.Close()
		}
	}
}

type result struct {
	out, err string
	code     int
	secs     float64
}

// sh runs a command in the host's dom0 and logs it with its time.
func (h *host) sh(t *testing.T, cmd string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	t0 := time.Now()
	out, errs, code, err := h.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("%s: %s: control channel: %v", h.name, cmd, err)
	}
	r := result{out, errs, code, time.Since(t0).Seconds()}
	t.Logf("%s$ %s   [exit %d, %.2fs]\n%s%s", h.name, cmd, code, r.secs, testbed.Indent(out), testbed.Indent(errs))
	if err := testbed.CheckJSON(cmd, out); err != nil {
		t.Error(err)
	}
	return r
}

func (h *host) ok(t *testing.T, cmd string) result {
	t.Helper()
	r := h.sh(t, cmd)
	if r.code != 0 {
		t.Fatalf("%s: %s: exit %d\n%s%s", h.name, cmd, r.code, r.out, r.err)
	}
	return r
}

// slots returns host BDF -> guest devfn from xlpt pci-list --json.
func (h *host) slots(t *testing.T, dom string) map[string]int {
	t.Helper()
	var l struct {
		Devices []struct{ Bus, Dev, Func, Vdevfn int } `json:"devices"`
	}
	r := h.ok(t, "xlpt pci-list --json "+dom)
	if err := json.Unmarshal([]byte(r.out), &l); err != nil {
		t.Fatalf("%s: pci-list --json: %v", h.name, err)
	}
	m := map[string]int{}
	for _, d := range l.Devices {
		m[fmt.Sprintf("0000:%02x:%02x.%x", d.Bus, d.Dev, d.Func)] = d.Vdevfn
	}
	return m
}

func (h *host) wantSlots(t *testing.T, want map[string]int) {
	t.Helper()
	if got := h.slots(t, "hvm1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: xlpt pci-list hvm1: %v; want %v (BDF -> guest devfn)", h.name, got, want)
	}
}

// assignable is the host's xlpt pci-assignable-list.
func (h *host) assignable(t *testing.T) string {
	return strings.Join(strings.Fields(h.ok(t, "xlpt pci-assignable-list").out), " ")
}

func (h *host) has(t *testing.T, dom string) bool {
	return h.sh(t, "xl domid "+dom+" >/dev/null 2>&1").code == 0
}

var (
	guestLine = regexp.MustCompile(`GUEST-PCI: (\S+) (\S+) class=\S+ driver=(\S+)`)
	uptimeRe  = regexp.MustCompile(`GUEST-PCI-BEGIN uptime=([0-9.]+)`)
)

// guestNICs is hvm1's latest list of its passthrough NICs, from its serial
// file on this host (its device model there opened it afresh): guest BDF
// -> driver, and the guest's uptime when it printed the list.
func (h *host) guestNICs(t *testing.T) (map[string]string, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, _, err := h.Run(ctx, "tr -d '\\000' < /var/log/xen/console/hvm1-serial.log")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(out, "GUEST-PCI-BEGIN")
	if i < 0 {
		return nil, 0
	}
	block := out[i:]
	if j := strings.Index(block, "GUEST-PCI-END"); j >= 0 {
		block = block[:j]
	} else {
		return nil, 0 // still printing
	}
	m := map[string]string{}
	for _, g := range guestLine.FindAllStringSubmatch(block, -1) {
		if g[2] == e1000e || g[2] == nvmeVF {
			m[g[1]] = g[3]
		}
	}
	up := 0.0
	if u := uptimeRe.FindStringSubmatch(block); u != nil {
		up, _ = strconv.ParseFloat(u[1], 64)
	}
	return m, up
}

// bothNICs is what hvm1 sees with its two NICs at guest slots 6 and 7,
// driven by e1000e.
var bothNICs = map[string]string{"0000:00:06.0": "e1000e", "0000:00:07.0": "e1000e"}

// waitGuest waits until hvm1 on this host sees want; it returns that
// view's uptime.
func (h *host) waitGuest(t *testing.T, want map[string]string) float64 {
	t.Helper()
	t0 := time.Now()
	var got map[string]string
	var up float64
	for time.Since(t0) < 4*time.Minute {
		if got, up = h.guestNICs(t); fmt.Sprint(got) == fmt.Sprint(want) {
			t.Logf("%s: hvm1 sees %v after %.1fs (guest uptime %.1fs)", h.name, want, time.Since(t0).Seconds(), up)
			return up
		}
		time.Sleep(3 * time.Second)
	}
	t.Fatalf("%s: hvm1 sees %v after 4 minutes; want %v\n%s", h.name, got, want,
		h.sh(t, "tr -d '\\000' < /var/log/xen/console/hvm1-serial.log | tail -n 20").out)
	return 0
}

// what names the devices a migration moved, for the timings.
func what(moved map[string]string) string {
	nics, vfs := 0, 0
	for src := range moved {
		if strings.HasPrefix(src, "0000:00:09.") || strings.HasPrefix(src, "0000:00:19.") {
			vfs++
		} else {
			nics++
		}
	}
	w := fmt.Sprintf("%d NICs", nics)
	if vfs > 0 {
		w += fmt.Sprintf(" and %d VF", vfs)
	}
	return w
}

// resultLine is xlpt-migrate's last line.
func resultLine(r result) string {
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	return lines[len(lines)-1]
}

// step runs one step; when it fails with hvm1 on neither host (an HVM
// guest lost under the emulator), the package says so for scripts/e2e-run.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if t.Run(name, f) || died != "" || !guestExpected {
		return
	}
	if a.has(t, "hvm1") || b.has(t, "hvm1") {
		return
	}
	said := ""
	for _, h := range []*host{a, b} {
		said += h.name + ": " + strings.ReplaceAll(strings.TrimSpace(h.sh(t, "xl dmesg | grep -E 'Triple fault|domain_crash|d[0-9]+v[0-9]+' | tail -n 2").out), "\n", " | ") + "; "
	}
	died = fmt.Sprintf("%s failed with hvm1 on neither host; Xen's last words: %s", name, said)
	t.Log(died)
}

var guestExpected bool // from hvm1's boot on: it must run on one host

// bootGuest creates hvm1 on A with 64 MiB (the stream crosses two emulated
// dom0s and ssh at about 2 MB/s) and gives B the same disk path, the
// testbed's stand-in for shared storage.
func bootGuest(t *testing.T) {
	t0 := time.Now()
	b.ok(t, `tb-cfg hvm hvm1 "" >/dev/null && rm /etc/xen/hvm1.cfg`)
	for attempt := 1; ; attempt++ {
		a.ok(t, `xl destroy hvm1 2>/dev/null; tb-cfg hvm hvm1 "" 'passthrough = "enabled"' >/dev/null &&
			sed -i 's/^memory = 256$/memory = 64/' /etc/xen/hvm1.cfg &&
			rm -f /var/log/xen/console/hvm1-serial.log && xl create /etc/xen/hvm1.cfg`)
		if a.sh(t, "tb-wait /var/log/xen/console/hvm1-serial.log 'GUEST: READY' 300").code == 0 {
			break
		}
		if attempt == 3 {
			t.Fatalf("hvm1 did not boot on %s three times:\n%s", a.name, a.sh(t, "xl dmesg | tail -n 5").out)
		}
		t.Logf("hvm1 did not boot (an emulator death?); creating it again")
	}
	guestExpected = true
	record("%-44s %6.1fs", "boot hvm1 (64 MiB) on tb-a", time.Since(t0).Seconds())
}

// migrate runs xlpt-migrate hvm1 from one host to the other, as an
// operator would (ssh, its default remote command), and checks that
// every device went with the guest.
func migrate(t *testing.T, from, to *host, moved map[string]string, slots map[string]int, view map[string]string) {
	t.Helper()
	up0 := from.waitGuest(t, view)
	fromFree := from.assignable(t)
	r := from.ok(t, migrateCmd+to.name)
	if l := resultLine(r); !strings.Contains(l, "RESULT 0: hvm1 runs on "+to.name+" with every device") {
		t.Errorf("last line %q", l)
	}
	record("%-44s %6.1fs", "xlpt-migrate hvm1 "+from.name+" -> "+to.name+" ("+what(moved)+")", r.secs)
	if from.has(t, "hvm1") {
		t.Errorf("%s still has hvm1 after the migration", from.name)
	}
	// The devices the guest used here are assignable again here.
	got := from.assignable(t)
	for src := range moved {
		if !strings.Contains(got, src) {
			t.Errorf("%s: %s not assignable after the migration: %q (before: %q)", from.name, src, got, fromFree)
		}
	}
	to.wantSlots(t, slots)
	// The plan on the target says which device took whose place.
	st := to.ok(t, "xlpt migrate status --plan "+plan).out
	for src, dst := range moved {
		if !strings.Contains(st, src+"->"+dst) {
			t.Errorf("%s: plan status %q lacks %s->%s", to.name, st, src, dst)
		}
	}
	if up := to.waitGuest(t, view); up <= up0 {
		t.Errorf("hvm1's uptime %.1fs on %s, %.1fs before on %s: it rebooted", up, to.name, up0, from.name)
	}
}

func TestTwoHosts(t *testing.T) {
	step(t, "hosts", func(t *testing.T) {
		if got := strings.TrimSpace(a.ok(t, "ssh tb-b hostname").out); got != "tb-b" {
			t.Errorf("ssh tb-b hostname on tb-a: %q", got)
		}
		if got := strings.TrimSpace(b.ok(t, "ssh tb-a hostname").out); got != "tb-a" {
			t.Errorf("ssh tb-a hostname on tb-b: %q", got)
		}
		// B's setup came from its devices.conf at its boot.
		got := strings.Fields(b.assignable(t))
		sort.Strings(got)
		if strings.Join(got, " ") != "0000:00:15.0 0000:00:16.0 0000:00:19.1" {
			t.Errorf("tb-b's assignable devices after its boot: %q; want 00:15.0, 00:16.0 and the VF 00:19.1 from devices.conf", got)
		}
		if !strings.Contains(b.LogTail(400), "4 applied, 0 already so, 0 refused, 0 failed") {
			t.Errorf("tb-b's serial log lacks xlpt restore's summary")
		}
	})
	step(t, "guest", func(t *testing.T) {
		a.ok(t, "xlpt pci-assignable-add 0000:00:05.0 && xlpt pci-assignable-add 0000:00:06.0")
		bootGuest(t)
		a.ok(t, "xlpt pci-attach hvm1 0000:00:05.0 6 && xlpt pci-attach hvm1 0000:00:06.0 7")
	})
	// The round trip A -> B -> A with devices is the last step's (two NICs
	// and a VF): a round trip with the two NICs alone here as well cost
	// CI three minutes and showed nothing more.
	step(t, "target-refuses", testTargetRefuses)
	step(t, "target-short-of-memory", testTargetShortOfMemory)
	step(t, "receive-killed", testReceiveKilled)
	step(t, "attach-fails-on-b", testAttachFailsOnB)
	step(t, "plain-xl-migrate", func(t *testing.T) {
		// The baseline of xlpt-migrate's added time: the same guest
		// without devices, xl migrate alone, on the same two hosts.
		b.ok(t, "xlpt pci-detach hvm1 0000:00:15.0 && xlpt pci-detach hvm1 0000:00:16.0")
		r := b.ok(t, "xl migrate hvm1 tb-a")
		record("%-44s %6.1fs", "plain xl migrate hvm1 tb-b -> tb-a, no devices", r.secs)
		if !a.has(t, "hvm1") {
			t.Errorf("hvm1 is not on tb-a after xl migrate")
		}
	})
	step(t, "two-nics-and-vf-a-to-b-and-back", func(t *testing.T) {
		// Two NICs and an SR-IOV VF in one migration: A's VF 00:09.1 (of
		// the NVMe at 00:09.0) maps to B's 00:19.1, a VF of the matching
		// PF at 00:19.0 (B's devices.conf made its VFs at boot), and back.
		// The VF takes guest slot 5, outside the default hot-plug range
		// (--slots). The guest's nvme driver does not bind it: QEMU's VFs
		// get no queues until the PF's driver gives them some.
		a.ok(t, "xlpt sriov enable --assignable 0000:00:09.0 2")
		a.ok(t, "xlpt pci-attach hvm1 0000:00:05.0 6 && xlpt pci-attach hvm1 0000:00:06.0 7 && "+
			"xlpt pci-attach --slots 5-7 hvm1 0000:00:09.1 5")
		three := map[string]string{"0000:00:05.0": "-", "0000:00:06.0": "e1000e", "0000:00:07.0": "e1000e"}
		migrate(t, a, b, map[string]string{"0000:00:05.0": "0000:00:15.0", "0000:00:06.0": "0000:00:16.0", "0000:00:09.1": "0000:00:19.1"},
			map[string]int{"0000:00:15.0": 0x30, "0000:00:16.0": 0x38, "0000:00:19.1": 0x28}, three)
		migrate(t, b, a, map[string]string{"0000:00:15.0": "0000:00:05.0", "0000:00:16.0": "0000:00:06.0", "0000:00:19.1": "0000:00:09.1"},
			map[string]int{"0000:00:05.0": 0x30, "0000:00:06.0": 0x38, "0000:00:09.1": 0x28}, three)
	})
	step(t, "cleanup", func(t *testing.T) {
		guestExpected = false
		a.sh(t, "xl destroy hvm1 2>/dev/null")
		b.sh(t, "xl destroy hvm1 2>/dev/null")
	})
}

// testTargetRefuses: B's 00:15.0 given back to dom0's e1000e, so B has no
// assignable device for A's 00:05.0; xlpt-migrate's preflight (xlpt
// migrate check on B) refuses before anything changes on either host.
func testTargetRefuses(t *testing.T) {
	b.ok(t, "xlpt pci-assignable-remove -r 0000:00:15.0")
	defer b.ok(t, "xlpt pci-assignable-add 0000:00:15.0")
	r := a.sh(t, migrateCmd+"tb-b")
	record("%-44s %6.1fs", "xlpt-migrate refused by tb-b's check", r.secs)
	if l := resultLine(r); r.code != 1 || !strings.Contains(l, "RESULT 1: tb-b cannot take hvm1 with its devices") ||
		!strings.Contains(l, "nothing changed") {
		t.Errorf("xlpt-migrate: exit %d, last line %q; want exit 1, refused by tb-b with nothing changed", r.code, l)
	}
	if !strings.Contains(r.out+r.err, "0000:00:05.0") || !strings.Contains(r.out+r.err, "0000:00:15.0") {
		t.Errorf("the refusal does not name A's 00:05.0 and B's 00:15.0:\n%s%s", r.out, r.err)
	}
	if strings.Contains(r.out+r.err, "1/3 detach") {
		t.Errorf("the detach ran after the refusal:\n%s", r.err)
	}
	a.wantSlots(t, map[string]int{"0000:00:05.0": 0x30, "0000:00:06.0": 0x38})
	if b.has(t, "hvm1") {
		t.Errorf("tb-b has an hvm1 after the refusal")
	}
}

// testTargetShortOfMemory: B's free memory taken by a paused PV guest,
// leaving half of what hvm1 holds (xl does not balloon dom0 there:
// dom0_mem= on Xen's command line): B's check refuses before anything
// moves, naming the memory; hvm1 keeps both NICs on A.
func testTargetShortOfMemory(t *testing.T) {
	need := atoi(t, a.ok(t, "xl list hvm1 | awk 'NR==2 {print $3}'").out)
	free := atoi(t, b.ok(t, "xl info | awk '/^free_memory/ {print $3}'").out)
	hog := free - need/2
	b.ok(t, fmt.Sprintf("tb-cfg pv hog >/dev/null && sed -i 's/^memory = .*/memory = %d/' /etc/xen/hog.cfg && xl create -p /etc/xen/hog.cfg", hog))
	defer b.sh(t, "xl destroy hog")
	left := atoi(t, b.ok(t, "xl info | awk '/^free_memory/ {print $3}'").out)
	r := a.sh(t, migrateCmd+"tb-b")
	record("%-44s %6.1fs", "xlpt-migrate refused: tb-b short of memory", r.secs)
	l := resultLine(r)
	if r.code != 1 || !strings.Contains(l, "RESULT 1: tb-b cannot take hvm1 with its devices") || !strings.Contains(l, "nothing changed") {
		t.Errorf("xlpt-migrate with %d MiB free on tb-b for hvm1's %d MiB: exit %d, last line %q; want exit 1, refused by tb-b", left, need, r.code, l)
	}
	for _, want := range []string{fmt.Sprintf("hvm1 holds %d MiB", need), "sets dom0_mem="} {
		if !strings.Contains(r.out+r.err, want) {
			t.Errorf("the refusal does not say %q:\n%s%s", want, r.out, r.err)
		}
	}
	if strings.Contains(r.out+r.err, "1/3 detach") {
		t.Errorf("the detach ran after the refusal:\n%s", r.err)
	}
	a.wantSlots(t, map[string]int{"0000:00:05.0": 0x30, "0000:00:06.0": 0x38})
	if b.has(t, "hvm1") {
		t.Errorf("tb-b has an hvm1 after the refusal")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// testAttachFailsOnB: B's 00:16.0 given back to dom0 while the guest's
// memory streams to B (after the preflight passed): the migration ends
// with hvm1 on B without devices (exit 3; attach is all or none), A's
// NICs assignable, and the last line says what to run on B; done there,
// the guest has both NICs.
func testAttachFailsOnB(t *testing.T) {
	a.ok(t, "xlpt pci-attach hvm1 0000:00:05.0 6")
	a.waitGuest(t, bothNICs)
	onReceive(t, b, "xlpt pci-assignable-remove -r 0000:00:16.0")
	r := a.sh(t, migrateCmd+"tb-b")
	record("%-44s %6.1fs", "xlpt-migrate, B's 00:16.0 taken mid-way", r.secs)
	onReceiveDone(t, b)
	l := resultLine(r)
	fix := "xlpt migrate attach --plan " + plan + " hvm1 (on tb-b)"
	if r.code != 3 || !strings.Contains(l, "RESULT 3: hvm1 runs on tb-b WITHOUT its devices") || !strings.Contains(l, fix) {
		t.Errorf("xlpt-migrate: exit %d, last line %q; want exit 3 naming %q", r.code, l, fix)
	}
	if got := b.slots(t, "hvm1"); len(got) != 0 {
		t.Errorf("tb-b: hvm1 holds %v after the failed attach; want none (all or none)", got)
	}
	if got := a.assignable(t); !strings.Contains(got, "0000:00:05.0") || !strings.Contains(got, "0000:00:06.0") {
		t.Errorf("tb-a: its NICs are not assignable after the migration: %q", got)
	}
	// The operator's fix, then the command the last line names.
	b.ok(t, "xlpt pci-assignable-add 0000:00:16.0")
	b.ok(t, "xlpt migrate attach --plan "+plan+" hvm1")
	b.wantSlots(t, map[string]int{"0000:00:15.0": 0x30, "0000:00:16.0": 0x38})
	b.waitGuest(t, bothNICs)
}

// onReceive arms a dom0 script on h: 4 s after xl migrate-receive starts
// (the stream under way), run action ($p is the receiver's pid), and say
// "done: ACTION" in /tmp/on-receive.log.
func onReceive(t *testing.T, h *host, action string) {
	t.Helper()
	script := `i=0
while [ $i -lt 1000 ]; do
	for c in /proc/[0-9]*/cmdline; do
		if tr '\0' ' ' <"$c" 2>/dev/null | grep -q '^[^ ]*xl migrate-receive'; then
			p=${c#/proc/}; p=${p%/cmdline}
			sleep 4
			` + action + ` && echo "done: ` + action + `" >/tmp/on-receive.log; exit 0
		fi
	done
	sleep 0.3; i=$((i+1))
done
echo "xl migrate-receive never ran" >/tmp/on-receive.log
`
	h.ok(t, "rm -f /tmp/on-receive.log; cat >/tmp/on-receive.sh <<'EOS'\n"+script+"EOS\nsetsid sh /tmp/on-receive.sh >/dev/null 2>&1 </dev/null &")
}

// onReceiveDone checks that the armed action ran.
func onReceiveDone(t *testing.T, h *host) {
	t.Helper()
	if said := strings.TrimSpace(h.ok(t, "cat /tmp/on-receive.log").out); !strings.HasPrefix(said, "done: ") {
		t.Fatalf("%s: the action armed for the receive did not run: %q", h.name, said)
	}
}

// testReceiveKilled: B's xl migrate-receive killed during the stream; the
// guest must run on A with every device back in its slot, and B must be
// left without it.
func testReceiveKilled(t *testing.T) {
	a.waitGuest(t, bothNICs)
	onReceive(t, b, `kill -9 "$p"`)
	r := a.sh(t, migrateCmd+"tb-b")
	record("%-44s %6.1fs", "xlpt-migrate with B's receiver killed", r.secs)
	onReceiveDone(t, b)
	if r.code != 1 || !strings.Contains(resultLine(r), "RESULT 1: ") || !strings.Contains(resultLine(r), "with every device") {
		t.Errorf("xlpt-migrate: exit %d, last line %q; want exit 1, hvm1 on tb-a with every device", r.code, resultLine(r))
	}
	a.wantSlots(t, map[string]int{"0000:00:05.0": 0x30, "0000:00:06.0": 0x38})
	// xl on B leaves the half-received domain paused when its receiver
	// dies: an operator's cleanup, said here.
	if left := strings.TrimSpace(b.sh(t, "xl list | awk 'NR > 2 { print $1 }'").out); left != "" {
		t.Logf("tb-b keeps %q from the killed receive (xl leaves it); destroying it", left)
		b.ok(t, "for d in "+left+"; do xl destroy $d; done")
	}
	if got := b.assignable(t); !strings.Contains(got, "0000:00:15.0") || !strings.Contains(got, "0000:00:16.0") {
		t.Errorf("tb-b's NICs not assignable after the killed receive: %q", got)
	}
	a.ok(t, "sleep 2; xlpt pci-detach hvm1 0000:00:05.0") // the guest still answers an eject
	a.waitGuest(t, map[string]string{"0000:00:07.0": "e1000e"})
}
