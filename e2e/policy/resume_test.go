//go:build e2e

package policy

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// QEMU's TCG emulation of nested SVM now and then kills an HVM guest (Xen:
// "dNv0 Triple fault"): the emulator's doing, not xlpt's (see
// scripts/testbed/README.md). The scenarios that share hvm1 run their
// steps through resumable: when a step fails and hvm1 died during it, the
// failure is the emulator's; the step is skipped, hvm1 is created again
// (after `xlpt recover` clears what the dead guest left, as an operator
// would), and the same step runs again. The rest of the package goes on
// from there instead of starting over on a new boot.
//
// E2E_KILL_HVM=REGEX destroys hvm1 at the start of the first attempt of
// each step whose name (t.Name()) matches: how the resume itself is shown
// (`make e2e E2E=./e2e/policy/ E2E_KILL_HVM='TestSRIOV/attach|...'`).

// guard is the step resumable is running.
var guard struct {
	active bool
	domid  string // hvm1's when the step began
	forced bool   // E2E_KILL_HVM destroyed it
	died   string // why hvm1 is gone, once seen
}

// dom0 runs cmd in dom0 without logging or asserting (the guard's own
// checks, made while a failure is being reported).
func dom0(cmd string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, _, _ := tb.Run(ctx, cmd)
	return strings.TrimSpace(out)
}

// hvmDied says why hvm1 died during the current step, "" if it did not.
func hvmDied() string {
	if !guard.active {
		return ""
	}
	if guard.died == "" && guard.forced {
		guard.died = "destroyed by the test (E2E_KILL_HVM)"
	}
	if guard.died == "" && guard.domid != "" {
		guard.died = dom0("xl dmesg | grep -E 'd" + guard.domid + "v[0-9]+ Triple fault' | tail -n 1")
	}
	if guard.died == "" && guard.domid != "" && !dom0Up() {
		return "" // the testbed itself is gone (QEMU crashed): not a guest's death
	}
	if guard.died == "" && guard.domid != "" && dom0("xl domid hvm1 2>/dev/null") != guard.domid {
		// No step destroys hvm1: gone is a reset under the emulator
		// (on_reboot = "destroy"), or a crash Xen logged.
		guard.died = "domain " + guard.domid + " vanished (a reset: on_reboot = destroy)"
		if said := xenSaid(guard.domid); said != "" {
			guard.died += "; Xen: " + said
		}
	}
	return guard.died
}

// dom0Up says whether dom0 still answers on the control channel.
func dom0Up() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, _, err := tb.Run(ctx, "true")
	return err == nil
}

// diedMarker starts the log line of a guest lost under the emulator that
// no step could resume: scripts/e2e-run runs such a package's failed
// tests again on a fresh boot, as after a triple fault.
const diedMarker = testbed.GuestDied

// xenSaid is what Xen's log says last about domain domid (its vCPUs,
// a domain_crash), "" if nothing.
func xenSaid(domid string) string {
	out := dom0("xl dmesg | grep -E '\\bd" + domid + "(v[0-9]+)?\\b|domain_crash' | tail -n 3")
	return strings.ReplaceAll(out, "\n", " | ")
}

// errorf and fatalf report a failure of the scenario, unless hvm1 died
// under the emulator during the step: then the step is skipped, and
// resumable runs it again.
func errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	if why := hvmDied(); why != "" {
		t.Skipf("hvm1 died during this step (%s): not xlpt's doing; the step runs again on a new hvm1", why)
	}
	t.Errorf(format, args...)
}

func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	if why := hvmDied(); why != "" {
		t.Skipf("hvm1 died during this step (%s): not xlpt's doing; the step runs again on a new hvm1", why)
	}
	t.Fatalf(format, args...)
}

// resumable runs the step f as subtest name; if hvm1 died during it, it
// creates hvm1 again, runs prep (the step's preconditions, if any) and
// the step again, up to three attempts.
func resumable(t *testing.T, name string, prep, f func(t *testing.T)) bool {
	t.Helper()
	force := os.Getenv("E2E_KILL_HVM")
	for attempt := 1; ; attempt++ {
		guard.active, guard.died, guard.forced = true, "", false
		guard.domid = dom0("xl domid hvm1")
		full := t.Name() + "/" + name
		if attempt == 1 && force != "" && regexp.MustCompile(force).MatchString(full) {
			t.Logf("E2E_KILL_HVM: destroying hvm1 (domain %s) at the start of %s", guard.domid, full)
			dom0("xl destroy hvm1")
			guard.forced = true
		}
		// A step skipped for a death counts as passed to t.Run: ask the
		// step itself.
		skipped := false
		passed := t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			f(t)
		})
		died := hvmDied()
		guard.active = false
		if died == "" {
			return passed
		}
		if passed && !skipped {
			// Done without hvm1 (a step on dom0's devices): the steps
			// after it get a new one.
			t.Logf("RESUME after %s: hvm1 died during the step (%s), which did not need it; creating it again", full, died)
			newHVM(t)
			return true
		}
		if attempt == 3 {
			t.Errorf("%s: hvm1 died in each of 3 attempts (last: %s)", full, died)
			return false
		}
		t.Logf("RESUME %s: hvm1 died during the step (%s); creating it again and running the step again (attempt %d)", full, died, attempt+1)
		newHVM(t)
		if prep != nil {
			prep(t)
		}
	}
}

// newHVM clears what a dead hvm1 left (as an operator would) and creates
// it again.
func newHVM(t *testing.T) {
	t.Helper()
	sh(t, "xl destroy hvm1")
	ok(t, "xlpt recover")
	bootHVM(t)
}
