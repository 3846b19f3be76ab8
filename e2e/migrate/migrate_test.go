//go:build e2e

// Package migrate shows live migration with passthrough devices and the
// device switch between running guests on a real Xen 4.17 host (the
// testbed), on one Xen boot with two HVM guests: scripts/xlpt-migrate
// migrating hvm1 on the one host (xl migrate with an empty -s runs the
// receiver, xl migrate-receive, itself), a failed xl migrate rolled back,
// xlpt migrate detach killed mid-way and run again, the preflight
// refusing guests that cannot migrate, pci-move between hvm1 and hvm2
// (and a failed one rolled back), and the multi-function device 00:0a.*
// attached, migrated and moved whole.
package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// The testbed's devices used here (scripts/testbed/run).
const (
	nic3 = "0000:00:03.0"
	nic5 = "0000:00:05.0"
	nic6 = "0000:00:06.0"
	mf0  = "0000:00:0a.0" // the two functions of the multi-function slot
	mf1  = "0000:00:0a.1"

	e1000e = "0x8086:0x10d3"
	plan   = "/var/lib/xlpt/migrate-hvm1.plan"
	// A localhost migration: no ssh, xl runs the receiver itself.
	local = "XLPT_MIGRATE_REMOTE= xlpt-migrate hvm1 'xl migrate-receive' -s ''"
)

var (
	tb      *testbed.Testbed
	timings []string
)

func record(format string, a ...any) { timings = append(timings, fmt.Sprintf(format, a...)) }

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	t0 := time.Now()
	var err error
	tb, err = testbed.Boot(ctx, testbed.Options{Name: "migrate", Output: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, testbed.BootFailed("e2e/migrate", err))
		cancel()
		os.Exit(1)
	}
	record("%-44s %6.1fs", "Xen boot to dom0 agent", time.Since(t0).Seconds())
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e/migrate: last lines of the serial log:\n%s\n", tb.LogTail(60))
		if died != "" {
			// scripts/e2e-run boots the package again on this line.
			fmt.Printf("%s e2e/migrate: %s\n", testbed.GuestDied, died)
		}
	}
	tb.Close()
	cancel()
	fmt.Printf("e2e/migrate timings:\n  %s\n", strings.Join(timings, "\n  "))
	os.Exit(code)
}

type result struct {
	out, err string
	code     int
	secs     float64
}

// sh runs a command in dom0 and logs it with its time.
func sh(t *testing.T, cmd string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	t0 := time.Now()
	out, errs, code, err := tb.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("%s: control channel: %v", cmd, err)
	}
	r := result{out, errs, code, time.Since(t0).Seconds()}
	t.Logf("$ %s   [exit %d, %.2fs]\n%s%s", cmd, code, r.secs, testbed.Indent(out), testbed.Indent(errs))
	if err := testbed.CheckJSON(cmd, out); err != nil {
		t.Error(err)
	}
	return r
}

func ok(t *testing.T, cmd string) result {
	t.Helper()
	r := sh(t, cmd)
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", cmd, r.code, r.out, r.err)
	}
	return r
}

// fails runs a command that must exit with code (-1: any failure) and
// say every fragment.
func fails(t *testing.T, code int, cmd string, fragments ...string) result {
	t.Helper()
	r := sh(t, cmd)
	if r.code != code && (code != -1 || r.code == 0) {
		t.Errorf("%s: exit %d; want %d", cmd, r.code, code)
	}
	for _, f := range fragments {
		if !strings.Contains(r.out+r.err, f) {
			t.Errorf("%s: output does not mention %q", cmd, f)
		}
	}
	return r
}

// vdevfns returns host BDF -> guest devfn from xlpt pci-list --json.
func vdevfns(t *testing.T, dom string) map[string]int {
	t.Helper()
	var l struct {
		Devices []struct{ Bus, Dev, Func, Vdevfn int } `json:"devices"`
	}
	r := ok(t, "xlpt pci-list --json "+dom)
	if err := json.Unmarshal([]byte(r.out), &l); err != nil {
		t.Fatalf("pci-list --json: %v", err)
	}
	m := map[string]int{}
	for _, d := range l.Devices {
		m[fmt.Sprintf("0000:%02x:%02x.%x", d.Bus, d.Dev, d.Func)] = d.Vdevfn
	}
	return m
}

func wantAt(t *testing.T, dom string, want map[string]int) {
	t.Helper()
	got := vdevfns(t, dom)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("xlpt pci-list %s: %v; want %v (BDF -> vdevfn)", dom, got, want)
	}
}

func domid(t *testing.T, dom string) string {
	return strings.TrimSpace(ok(t, "xl domid "+dom).out)
}

var (
	guestLine = regexp.MustCompile(`GUEST-PCI: (\S+) (\S+)`)
	// emulated are the devices QEMU gives every HVM guest (i440FX host
	// bridge, PIIX3 ISA/IDE/ACPI, the Xen platform device, VGA, and the
	// testbed's AHCI controller its disk is on): not passthrough, left
	// out of a guest's view.
	emulated = map[string]bool{"0x8086:0x1237": true, "0x8086:0x7000": true, "0x8086:0x7010": true,
		"0x8086:0x7113": true, "0x5853:0x0001": true, "0x1234:0x1111": true, "0x1013:0x00b8": true,
		"0x8086:0x2922": true}
	uptimeRe = regexp.MustCompile(`GUEST-PCI-BEGIN uptime=([0-9.]+)`)
)

// console prints what a guest printed: an HVM guest's serial file (its
// device model reopens it after a migration), or a PV guest's console log
// (after a local migration xenconsoled logs the new domain under its name
// during the migration, NAME--incoming).
func console(dom string) string {
	if strings.HasPrefix(dom, "pv") {
		return "cat /var/log/xen/console/guest-" + dom + ".log /var/log/xen/console/guest-" + dom + "--incoming.log 2>/dev/null | tr -d '\\000'"
	}
	return "tr -d '\\000' < /var/log/xen/console/" + dom + "-serial.log"
}

// guestView is a guest's latest list of its PCI devices (its BDF -> ids)
// and the guest's uptime when it printed it.
func guestView(t *testing.T, dom string) (map[string]string, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, _, err := tb.Run(ctx, console(dom))
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
	}
	m := map[string]string{}
	for _, g := range guestLine.FindAllStringSubmatch(block, -1) {
		if !emulated[g[2]] {
			m[g[1]] = g[2]
		}
	}
	up := 0.0
	if u := uptimeRe.FindStringSubmatch(block); u != nil {
		up, _ = strconv.ParseFloat(u[1], 64)
	}
	return m, up
}

// waitGuest polls a guest's view until it is exactly want (guest BDF ->
// ids); it returns the uptime of that view.
func waitGuest(t *testing.T, dom string, want map[string]string) float64 {
	t.Helper()
	t0 := time.Now()
	var got map[string]string
	var up float64
	for time.Since(t0) < 3*time.Minute {
		if got, up = guestView(t, dom); fmt.Sprint(got) == fmt.Sprint(want) {
			t.Logf("%s sees %v after %.1fs (guest uptime %.1fs)", dom, want, time.Since(t0).Seconds(), up)
			return up
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("%s sees %v after 3 minutes; want %v", dom, got, want)
	return 0
}

// bootHVM creates the guests together and waits for each to reach its
// init. QEMU's TCG emulation of nested SVM now and then triple-faults an
// HVM guest (Xen logs "dNv0 Triple fault"): the emulator's doing, so the
// guest is created again, up to three times.
func bootHVM(t *testing.T, names ...string) {
	t0 := time.Now()
	// Each guest's domid, taken right after its create: a guest that
	// triple-faults is destroyed (on_reboot="destroy"), and only its
	// domid finds the fault in xl dmesg then.
	ids := map[string]string{}
	create := func(n string) {
		ok(t, fmt.Sprintf("xl destroy %s 2>/dev/null; rm -f /var/log/xen/console/%s-serial.log; xl create /etc/xen/%s.cfg", n, n, n))
		ids[n] = strings.TrimSpace(sh(t, "xl domid "+n+" 2>/dev/null || true").out)
	}
	for _, n := range names {
		ok(t, fmt.Sprintf(`tb-cfg hvm %s "" 'passthrough = "enabled"'`, n))
		create(n)
	}
	for _, n := range names {
		for attempt := 1; ; attempt++ {
			id := ids[n]
			// Up to 10 minutes, looking for the triple fault every 30 s
			// (a dead guest never gets READY).
			var r result
			fault := ""
			if id == "" { // gone before its domid could be read
				fault = "(died right after xl create)"
			}
			for wait := 0; wait < 600 && fault == ""; wait += 30 {
				if r = sh(t, "tb-wait /var/log/xen/console/"+n+"-serial.log 'GUEST: READY' 30"); r.code == 0 {
					break
				}
				fault = strings.TrimSpace(sh(t, "xl dmesg | grep -E 'd"+id+"v[0-9]+ Triple fault' || true").out)
				if fault == "" && strings.TrimSpace(sh(t, "xl domid "+n+" 2>/dev/null || true").out) != id {
					// A reset under the emulator: on_reboot destroys it.
					fault = "domain " + id + " vanished during its boot (a reset: on_reboot = destroy)"
				}
			}
			if r.code == 0 && fault == "" {
				break
			}
			if fault == "" || attempt == 3 {
				if fault != "" {
					// Three boots lost to the emulator: scripts/e2e-run
					// boots the package again (a reset leaves no triple
					// fault in the serial log for it to find).
					died = fmt.Sprintf("boot: %s lost to the emulator %d times: %s", n, attempt, fault)
				}
				t.Fatalf("%s did not boot (attempt %d): %q\n%s", n, attempt, fault, sh(t, "tail -n 30 /var/log/xen/console/"+n+"-serial.log").out)
			}
			t.Logf("%s triple-faulted under QEMU's emulated SVM (%q); creating it again", n, fault)
			create(n)
		}
	}
	record("%-44s %6.1fs", "boot "+strings.Join(names, " and ")+" (together)", time.Since(t0).Seconds())
}

// resultLine is xlpt-migrate's last line.
func resultLine(r result) string {
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	return lines[len(lines)-1]
}

// QEMU's TCG emulation now and then kills an HVM guest without a triple
// fault (a reset: on_reboot = "destroy"). The steps share hvm1 and hvm2,
// so a step that failed with one of them gone is marked (died), and
// scripts/e2e-run boots the package again instead of reporting xlpt.
var (
	guestsUp bool   // from the boot step until cleanup: both must exist
	died     string // the first step that failed with a guest gone, and why
)

// step runs one step of TestMigrate, noting a guest gone when it fails.
//
// E2E_KILL_HVM=REGEX destroys hvm1 at the start of the steps it matches,
// once per machine (the file E2E_KILL_HVM_ONCE, if set, records that it
// was done, so that the package's boot again runs clean): how the rerun
// on a guest's death is shown.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if re, once := os.Getenv("E2E_KILL_HVM"), os.Getenv("E2E_KILL_HVM_ONCE"); re != "" && guestsUp &&
		regexp.MustCompile(re).MatchString(t.Name()+"/"+name) {
		if _, err := os.Stat(once); once == "" || err != nil {
			t.Logf("E2E_KILL_HVM: destroying hvm1 at the start of %s", name)
			if _, _, _, err := tb.Run(context.Background(), "xl destroy hvm1"); err != nil {
				t.Fatal(err)
			}
			if once != "" {
				if err := os.WriteFile(once, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if t.Run(name, f) || !guestsUp || died != "" {
		return
	}
	for _, g := range []string{"hvm1", "hvm2"} {
		// Gone, or shut down by a reset (State s, on its way to
		// on_reboot's destroy) or crashed (c).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, _, code, err := tb.Run(ctx, "xl list "+g+" 2>/dev/null | awk 'NR == 2 { print $5 }'")
		cancel()
		state := strings.TrimSpace(out)
		if err == nil && (code != 0 || state == "" || strings.ContainsAny(state, "sc")) {
			said, _, _, _ := tb.Run(context.Background(), "xl dmesg | grep -E 'Triple fault|domain_crash|d[0-9]+v[0-9]+' | tail -n 3")
			died = fmt.Sprintf("%s failed with %s gone (state %q); Xen's last words: %s", name, g, state,
				strings.ReplaceAll(strings.TrimSpace(said), "\n", " | "))
			t.Log(died)
			return
		}
	}
}

func TestMigrate(t *testing.T) {
	step(t, "prepare", func(t *testing.T) {
		for _, b := range []string{nic3, nic5, nic6, mf0, mf1} {
			ok(t, "xlpt pci-assignable-add "+b)
		}
	})
	step(t, "preflight-refuses-before-detach", testRefusals)
	step(t, "boot", func(t *testing.T) { bootHVM(t, "hvm1", "hvm2"); guestsUp = !t.Failed() })

	step(t, "migrate-two-devices", func(t *testing.T) {
		ok(t, "xlpt pci-attach hvm1 "+nic5+" 6")
		ok(t, "xlpt pci-attach hvm1 "+nic6+" 7")
		both := map[string]string{"0000:00:06.0": e1000e, "0000:00:07.0": e1000e}
		up0 := waitGuest(t, "hvm1", both)
		before := domid(t, "hvm1")
		r := ok(t, local)
		if l := resultLine(r); !strings.Contains(l, "this host with every device") {
			t.Errorf("last line %q", l)
		}
		if domid(t, "hvm1") == before {
			t.Errorf("hvm1 kept domid %s: not migrated", before)
		}
		wantAt(t, "hvm1", map[string]int{nic5: 0x30, nic6: 0x38})
		if up := waitGuest(t, "hvm1", both); up <= up0 {
			t.Errorf("guest uptime %.1fs after the migration, %.1fs before: it rebooted", up, up0)
		}
		record("%-44s %6.1fs", "xlpt-migrate, hvm1 with 2 devices", r.secs)
	})

	step(t, "xl-migrate-fails-rollback", func(t *testing.T) {
		before := domid(t, "hvm1")
		r := fails(t, 1, "XLPT_MIGRATE_REMOTE= xlpt-migrate hvm1 false -s ''",
			"RESULT 1: migration failed; hvm1 runs on", "with every device back")
		if domid(t, "hvm1") != before {
			t.Errorf("hvm1 changed domid")
		}
		wantAt(t, "hvm1", map[string]int{nic5: 0x30, nic6: 0x38})
		waitGuest(t, "hvm1", map[string]string{"0000:00:06.0": e1000e, "0000:00:07.0": e1000e})
		record("%-44s %6.1fs", "xlpt-migrate with xl migrate failing", r.secs)
	})

	step(t, "detach-sigkilled-then-rerun", func(t *testing.T) {
		p := "/var/lib/xlpt/kill.plan"
		// Kill it as soon as the plan records the first detach.
		ok(t, "rm -f "+p+"; xlpt migrate detach --plan "+p+" hvm1 & pid=$!; "+
			"i=0; until grep -q '\"state\": \"detached\"' "+p+" 2>/dev/null || [ $i -gt 3000 ]; do sleep 0.1; i=$((i+1)); done; kill -9 $pid; "+
			"grep -c '\"state\": \"detached\"' "+p)
		st := ok(t, "xlpt migrate status --plan "+p).out
		if !strings.Contains(st, "detaching:") || strings.Count(st, " detached@") != 1 {
			t.Errorf("after the kill the plan says %q; want one device detached, one still to do", st)
		}
		// The two slots detach at once: the other device may be out of
		// the guest already, its record not yet written (the rerun
		// finds and finishes it). What the plan calls detached must be.
		held := vdevfns(t, "hvm1")
		if len(held) > 1 {
			t.Errorf("hvm1 holds %d devices after the kill; want at most 1", len(held))
		}
		for _, b := range []string{nic5, nic6} {
			if _, in := held[b]; in && strings.Contains(st, b+" detached@") {
				t.Errorf("the plan says %s detached, but hvm1 still holds it: %q", b, st)
			}
		}
		ok(t, "xlpt migrate detach --plan "+p+" hvm1")
		if st := ok(t, "xlpt migrate status --plan "+p).out; strings.Count(st, " detached@") != 2 || !strings.Contains(st, "hvm1 detached:") {
			t.Errorf("after the re-run the plan says %q", st)
		}
		wantAt(t, "hvm1", map[string]int{})
		r := ok(t, "xlpt pci-assignable-list")
		if !strings.Contains(r.out, nic5) || !strings.Contains(r.out, nic6) {
			t.Errorf("a detached device is not assignable:\n%s", r.out)
		}
		ok(t, "xlpt migrate rollback --plan "+p+" hvm1")
		wantAt(t, "hvm1", map[string]int{nic5: 0x30, nic6: 0x38})
	})

	// BB:DD.* into one HVM guest slot, function 0 last. On the testbed
	// the second function fails: libxl 4.17 puts a function attached on
	// its own at function 0 of the guest slot ("make sure that virtual
	// function number 0 is always used", libxl_pci.c), where the first
	// already is, and QEMU never gets multifunction=on from libxl anyway.
	// Then the attach must leave nothing behind, and the multi-function
	// device is shown in a PV guest, where pciback keeps a slot's
	// functions together.
	mfHVM := false
	step(t, "multifunction-attach-and-migrate", func(t *testing.T) {
		ok(t, "xlpt pci-detach hvm1 "+nic6)
		r := sh(t, "xlpt pci-attach hvm1 '0000:00:0a.*' 7")
		if r.code != 0 {
			if r.code != 1 || !strings.Contains(r.err, "0000:00:0a.") {
				t.Fatalf("BB:DD.* attach: exit %d, not a refusal naming the device:\n%s", r.code, r.err)
			}
			t.Logf("hot-plugging two functions into one HVM slot failed (libxl 4.17 puts each lone function at guest function 0): %s",
				strings.TrimSpace(r.err))
			wantAt(t, "hvm1", map[string]int{nic5: 0x30})
			if a := ok(t, "xlpt pci-assignable-list").out; !strings.Contains(a, mf0) || !strings.Contains(a, mf1) {
				t.Errorf("the failed attach did not give both functions back:\n%s", a)
			}
			testPVMultifunction(t)
			return
		}
		mfHVM = true
		three := map[string]string{"0000:00:06.0": e1000e, "0000:00:07.0": e1000e, "0000:00:07.1": e1000e}
		waitGuest(t, "hvm1", three)
		wantAt(t, "hvm1", map[string]int{nic5: 0x30, mf0: 0x38, mf1: 0x39})
		r = ok(t, local)
		if l := resultLine(r); !strings.Contains(l, "RESULT 0") || !strings.Contains(l, mf1+" in_target@07.1") {
			t.Errorf("last line %q", l)
		}
		wantAt(t, "hvm1", map[string]int{nic5: 0x30, mf0: 0x38, mf1: 0x39})
		waitGuest(t, "hvm1", three)
		record("%-44s %6.1fs", "xlpt-migrate, hvm1 with 00:05.0 + 00:0a.*", r.secs)
	})

	var hvm2Holds map[string]int   // what pci-move put into hvm2 (BDF -> vdevfn)
	var hvm2Sees map[string]string // and what the guest sees
	step(t, "pci-move", func(t *testing.T) {
		r := ok(t, "xlpt pci-move hvm1 hvm2 "+nic5+" 6")
		record("%-44s %6.1fs", "pci-move of one device", r.secs)
		want, sees := map[string]int{nic5: 0x30}, map[string]string{"0000:00:06.0": e1000e}
		if mfHVM {
			r = ok(t, "xlpt pci-move hvm1 hvm2 '0000:00:0a.*' 7")
			record("%-44s %6.1fs", "pci-move of 00:0a.* (2 functions)", r.secs)
			want[mf0], want[mf1] = 0x38, 0x39
			sees["0000:00:07.0"], sees["0000:00:07.1"] = e1000e, e1000e
		}
		wantAt(t, "hvm1", map[string]int{})
		wantAt(t, "hvm2", want)
		waitGuest(t, "hvm2", sees)
		hvm2Holds, hvm2Sees = want, sees
		waitGuest(t, "hvm1", map[string]string{})
	})

	// QEMU refuses guest slot 2 (xen-platform's) once the device is out
	// of hvm2: the move puts it back.
	step(t, "pci-move-attach-fails-rolled-back", func(t *testing.T) {
		before := vdevfns(t, "hvm2")
		fails(t, 1, "xlpt pci-move --slots 2-7 hvm2 hvm1 "+nic5+" 2",
			"in use by xen-platform", "back in hvm2 in their old slots")
		wantAt(t, "hvm2", before)
		wantAt(t, "hvm1", map[string]int{})
		waitGuest(t, "hvm2", map[string]string{"0000:00:06.0": e1000e})
	})

	// Issue 24: xl save with a device in the guest returns 0, and the
	// restored guest never acknowledges an eject again; xlpt-save takes
	// the devices out first and xlpt-restore puts them back.
	step(t, "save-restore", func(t *testing.T) { testSaveRestore(t, hvm2Holds, hvm2Sees) })

	// The baseline, last (a failure of xl itself loses the guest): the
	// same guest, its devices moved away, plain xl migrate.
	step(t, "plain-xl-migrate", func(t *testing.T) {
		before := domid(t, "hvm1")
		r := ok(t, "xl migrate -s '' hvm1 'xl migrate-receive'")
		if after := domid(t, "hvm1"); after == before {
			t.Fatalf("hvm1 kept domid %s: not migrated", before)
		}
		record("%-44s %6.1fs", "plain xl migrate, hvm1 without devices", r.secs)
	})

	// A guest the emulator killed at the last step cannot be destroyed
	// again ("Unable to destroy guest"): what counts is that none is left.
	step(t, "cleanup", func(t *testing.T) {
		guestsUp = false
		sh(t, "xl destroy hvm1; xl destroy hvm2")
		if r := sh(t, "xl list | grep -E '^hvm[12] '"); r.code == 0 {
			t.Errorf("guests left after cleanup:\n%s", r.out)
		}
	})
}

// testSaveRestore: hvm2 holds what pci-move put there (00:05.0 in guest
// slot 6, 00:0a.* in 7 where libxl could): a save that fails is rolled
// back, then hvm2 is saved, restored with its devices in their slots, and
// gives 00:05.0 up on request.
func testSaveRestore(t *testing.T, holds map[string]int, sees map[string]string) {
	const img = "/var/lib/xlpt/hvm2.save"
	if holds == nil {
		t.Fatal("pci-move did not leave hvm2 its devices")
	}
	fails(t, 1, "mkdir -p /tmp/dir.save && xlpt-save hvm2 /tmp/dir.save", // xl save cannot write a directory
		"RESULT 1: xl save failed; hvm2 runs here with every device back")
	wantAt(t, "hvm2", holds)
	up0 := waitGuest(t, "hvm2", sees)

	guestsUp = false // hvm2 is gone between the save and the restore
	r := ok(t, "rm -f "+img+" "+img+".xlpt-plan; xlpt-save hvm2 "+img)
	if l := resultLine(r); !strings.Contains(l, "RESULT 0: hvm2 saved to "+img) {
		t.Errorf("last line %q", l)
	}
	fails(t, -1, "xl domid hvm2")
	a := ok(t, "xlpt pci-assignable-list").out
	for bdf := range holds {
		if !strings.Contains(a, bdf) {
			t.Errorf("after the save %s is not assignable:\n%s", bdf, a)
		}
	}
	r2 := ok(t, "xlpt-restore "+img)
	if l := resultLine(r2); !strings.Contains(l, "RESULT 0: hvm2 runs with every device") {
		t.Errorf("last line %q", l)
	}
	guestsUp = true
	wantAt(t, "hvm2", holds)
	missedHotplug(t, "hvm2")
	if up := waitGuest(t, "hvm2", sees); up <= up0 {
		t.Errorf("guest uptime %.1fs after the restore, %.1fs before: it rebooted", up, up0)
	}
	// The restored guest still acknowledges an eject.
	ok(t, "xlpt pci-detach hvm2 "+nic5)
	left := map[string]string{}
	for k, v := range sees {
		if k != "0000:00:06.0" {
			left[k] = v
		}
	}
	waitGuest(t, "hvm2", left)
	record("%-44s %6.1fs", fmt.Sprintf("xlpt-save, hvm2 with %d devices", len(holds)), r.secs)
	record("%-44s %6.1fs", fmt.Sprintf("xlpt-restore, hvm2 with %d devices (10 s settle)", len(holds)), r2.secs)
}

// missedHotplug waits for the restored guest to notice its devices.
// Before xlpt-restore waited for the guest's resume (XLPT_RESTORE_SETTLE),
// the guest missed this hot-plug in most runs and never handled an ACPI
// hot-plug again (its console stopping at "xen:events: Failed to obtain
// physical IRQ 40", the stale INTx pirq of the device taken out, which is
// harmless): an attach while the kernel still resumed. Now a miss is a
// failure.
func missedHotplug(t *testing.T, dom string) {
	t.Helper()
	serial := "/var/log/xen/console/" + dom + "-serial.log"
	// The restored guest's device model starts the serial log afresh.
	if sh(t, "tb-wait "+serial+" 'GUEST: PCI set changed' 60").code == 0 {
		return
	}
	state := strings.ReplaceAll(strings.TrimSpace(sh(t, "xl list "+dom+" | tail -n 1; tr -d '\\000' < "+serial+" | tail -n 3").out), "\n", " | ")
	t.Fatalf("the restored %s never handled the hot-plug of its devices (no \"PCI set changed\" in 60 s): %s", dom, state)
}

// testPVMultifunction: 00:0a.* in a PV guest (pciback's vpci keeps the
// functions of a slot in one virtual slot). Xen 4.17 cannot live-migrate
// a PV guest created with passthrough (no log-dirty mode with an IOMMU
// context: "Failed to enable logdirty" even with every device out), so
// xlpt-migrate must refuse it before anything is detached.
func testPVMultifunction(t *testing.T) {
	ok(t, `tb-cfg pv pv1 "" 'passthrough = "enabled"' && rm -f /var/log/xen/console/guest-pv1*.log && xl create /etc/xen/pv1.cfg`)
	ok(t, "tb-wait /var/log/xen/console/guest-pv1.log 'GUEST: READY' 300")
	ok(t, "xlpt pci-attach pv1 '0000:00:0a.*'")
	two := map[string]string{"0000:00:00.0": e1000e, "0000:00:00.1": e1000e}
	waitGuest(t, "pv1", two)
	wantAt(t, "pv1", map[string]int{mf0: 0, mf1: 0})
	r := fails(t, 1, "XLPT_MIGRATE_PLAN=/var/lib/xlpt/migrate-pv1.plan XLPT_MIGRATE_REMOTE= xlpt-migrate pv1 'xl migrate-receive' -s ''",
		"PV guest created with passthrough", "Failed to enable logdirty", "nothing was detached")
	wantAt(t, "pv1", map[string]int{mf0: 0, mf1: 0})
	waitGuest(t, "pv1", two)
	record("%-44s %6.1fs", "xlpt-migrate of pv1 refused (PV + IOMMU)", r.secs)
	ok(t, "xlpt pci-detach pv1 '0000:00:0a.*'")
	ok(t, "xl destroy pv1")
}

// testRefusals: a guest created with vNUMA (libxl refuses to save it)
// or nomigrate=1 is refused before anything is detached.
func testRefusals(t *testing.T) {
	ok(t, `tb-cfg hvm vn "'`+nic3+`'" 'vnuma = [ [ "pnode=0", "size=256", "vcpus=0", "vdistances=10" ] ]'`)
	ok(t, "xl create /etc/xen/vn.cfg")
	fails(t, 1, "xlpt migrate detach --plan /tmp/vn.plan vn", "has 1 vNUMA nodes", "remove vnuma= from its xl.cfg", "nothing was detached")
	if _, held := vdevfns(t, "vn")[nic3]; !held {
		t.Errorf("vn lost its device")
	}
	ok(t, "test ! -e /tmp/vn.plan")
	// Xen agrees: without the device, xl migrate itself fails on vNUMA.
	ok(t, "xlpt pci-detach -f vn "+nic3)
	fails(t, -1, "xl migrate -s '' vn 'xl migrate-receive'", "Cannot save a guest with vNUMA configured")
	ok(t, "xl destroy vn")

	ok(t, `tb-cfg hvm nm "'`+nic3+`'" 'nomigrate = 1'`)
	ok(t, "xl create /etc/xen/nm.cfg")
	fails(t, 1, "xlpt migrate detach --plan /tmp/nm.plan nm", "nomigrate=1", "set nomigrate=0", "nothing was detached")
	if _, held := vdevfns(t, "nm")[nic3]; !held {
		t.Errorf("nm lost its device")
	}
	ok(t, "xl destroy nm")
}
