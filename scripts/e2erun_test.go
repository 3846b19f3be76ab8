package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// e2eRun runs scripts/e2e-run RUN ” ./pkg/ with a fake go whose
// successive runs print outs[0], outs[1], ... and fail unless the text
// has "PASS" on its own; it returns the script's output, its exit code
// and the -run pattern of each go test.
func e2eRun(t *testing.T, run string, outs ...string) (string, int, []string) {
	t.Helper()
	dir := t.TempDir()
	for i, o := range outs {
		if err := os.WriteFile(filepath.Join(dir, "out"+string(rune('0'+i))), []byte(o), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fake := `#!/bin/bash
n=$(cat "$D/n" 2>/dev/null || echo 0); echo $((n + 1)) >"$D/n"
while [ $# -gt 0 ]; do [ "$1" = -run ] && printf '[%s]\n' "$2" >>"$D/runs"; shift; done
cat "$D/out$n"
grep -qx PASS "$D/out$n"
`
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./e2e-run", run, "", "./e2e/pkg/")
	cmd.Env = append(os.Environ(), "GO="+filepath.Join(dir, "go"), "D="+dir, "CHECK_TIMES=")
	out, _ := cmd.CombinedOutput()
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	var pats []string
	for _, l := range strings.Fields(string(runs)) {
		pats = append(pats, strings.Trim(l, "[]"))
	}
	return string(out), cmd.ProcessState.ExitCode(), pats
}

func TestE2ERunBootsAgainAfterAFailedBoot(t *testing.T) {
	out, code, runs := e2eRun(t, "^TestA$",
		"E2E-BOOT-FAILED: e2e/pkg: testbed boot: the boot stalled\nFAIL\n",
		"--- PASS: TestA (1.00s)\nPASS\n")
	if code != 0 || len(runs) != 2 || runs[1] != "^TestA$" {
		t.Errorf("exit %d, runs %q; want 0 and the package's own pattern run again\n%s", code, runs, out)
	}
	if !strings.Contains(out, "did not boot") || !strings.Contains(out, "the boot stalled") {
		t.Errorf("the rerun does not say why:\n%s", out)
	}
}

func TestE2ERunReRunsOnlyTheTestsAGuestDeathFailed(t *testing.T) {
	out, code, runs := e2eRun(t, "",
		"--- FAIL: TestMigrate (9.00s)\n--- PASS: TestOther (1.00s)\nE2E-GUEST-DIED: hvm1 vanished\nFAIL\n",
		"--- PASS: TestMigrate (1.00s)\nPASS\n")
	if code != 0 || len(runs) != 2 || runs[1] != "^(TestMigrate)$" {
		t.Errorf("exit %d, runs %q; want 0 and ^(TestMigrate)$ run again\n%s", code, runs, out)
	}
}

// CI: the testbed's QEMU died of SIGSEGV in the middle of e2e/policy;
// every test after it failed on a closed control channel.
func TestE2ERunReRunsAfterQEMUCrashed(t *testing.T) {
	out, code, runs := e2eRun(t, "",
		"--- FAIL: TestRecovery (142.66s)\n--- FAIL: TestSRIOV (0.00s)\n"+
			"testbed: QEMU exited rc=139 (killed by SIGSEGV) after 274.6s; log /x/logs/policy-1.log\nFAIL\n",
		"PASS\n")
	if code != 0 || len(runs) != 2 || runs[1] != "^(TestRecovery|TestSRIOV)$" {
		t.Errorf("exit %d, runs %q; want 0 and the failed tests run again\n%s", code, runs, out)
	}
	// Stopped by somebody (SIGTERM, rc 143) or at its time limit (124):
	// not the emulator's fault.
	for _, rc := range []string{"143 (killed by SIGTERM)", "124"} {
		_, code, runs := e2eRun(t, "", "--- FAIL: TestRecovery (1.00s)\ntestbed: QEMU exited rc="+rc+" after 9s; log x\nFAIL\n", "PASS\n")
		if code != 1 || len(runs) != 1 {
			t.Errorf("QEMU rc=%s: exit %d after %d runs; want 1 after 1", rc, code, len(runs))
		}
	}
}

// dom0 stopped (no console line, no answer: e2e/testbed's WedgeAfter
// killed QEMU): the failed tests get a fresh boot, and the output says why.
func TestE2ERunReRunsAfterAWedgedDom0(t *testing.T) {
	out, code, runs := e2eRun(t, "",
		"--- FAIL: TestRecovery (200.00s)\n--- FAIL: TestSRIOV (0.00s)\n"+
			"recovery_test.go:276: xlpt pci-detach hvm1 0000:00:06.0: control channel: testbed: run \"xlpt pci-detach\": "+
			"E2E-TESTBED-WEDGED: dom0 answered nothing and wrote nothing to its serial console for 3m0s (its agent writes to it while a request runs); QEMU stopped\nFAIL\n",
		"PASS\n")
	if code != 0 || len(runs) != 2 || runs[1] != "^(TestRecovery|TestSRIOV)$" {
		t.Errorf("exit %d, runs %q; want 0 and the failed tests run again\n%s", code, runs, out)
	}
	if !strings.Contains(out, "=== e2e-run:   E2E-TESTBED-WEDGED: dom0 answered nothing") {
		t.Errorf("the rerun does not say why:\n%s", out)
	}
}

func TestE2ERunLetsAnyOtherFailureStand(t *testing.T) {
	for name, first := range map[string]string{
		"a test failed":         "--- FAIL: TestMigrate (9.00s)\nFAIL\n",
		"no test and no marker": "e2e/pkg: something else\nFAIL\n",
	} {
		out, code, runs := e2eRun(t, "", first, "PASS\n")
		if code != 1 || len(runs) != 1 {
			t.Errorf("%s: exit %d after %d runs; want 1 after 1\n%s", name, code, len(runs), out)
		}
	}
}

func TestE2ERunGivesUpAfterTheReruns(t *testing.T) {
	boot := "E2E-BOOT-FAILED: e2e/pkg: testbed boot: QEMU crashed\nFAIL\n"
	out, code, runs := e2eRun(t, "", boot, boot, boot, "PASS\n")
	if code != 1 || len(runs) != 3 {
		t.Errorf("exit %d after %d runs; want 1 after 3 (E2E_RERUNS=2)\n%s", code, len(runs), out)
	}
}

// A Xen panic in the boot's serial log is Xen's bug: the failure stands,
// even when the same log holds a triple fault that alone earns a rerun
// (the CI run in which the 4.17 testbed panicked on a removed VF's stale
// MSI-X record: docs/xen-417-msix-vf-use-after-free.md).
func TestE2ERunLetsAXenPanicStand(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "logs", "policy-20261207-193509.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	serial := "(XEN) d3v0 Triple fault - invoking HVM shutdown action 1\n(XEN) Panic on CPU 0:\n(XEN) FATAL PAGE FAULT\n"
	if err := os.WriteFile(log, []byte(serial), 0o644); err != nil {
		t.Fatal(err)
	}
	first := "testbed: QEMU exited rc=0 after 309.1s; log " + log + "\n--- FAIL: TestSRIOVRaceUnderTheHostLock (8.36s)\nE2E-GUEST-DIED: hvm1\nFAIL\n"
	out, code, runs := e2eRun(t, "", first, "--- PASS: TestSRIOVRaceUnderTheHostLock (1.00s)\nPASS\n")
	if code != 1 || len(runs) != 1 || !strings.Contains(out, "Xen panicked ((XEN) Panic on CPU 0: (XEN) FATAL PAGE FAULT): the failure stands") {
		t.Errorf("exit %d after %d runs; want 1 after 1, saying Xen panicked\n%s", code, len(runs), out)
	}
	// Without the panic the same output earns its rerun.
	if err := os.WriteFile(log, []byte("(XEN) d3v0 Triple fault - invoking HVM shutdown action 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code, runs := e2eRun(t, "", first, "--- PASS: TestSRIOVRaceUnderTheHostLock (1.00s)\nPASS\n"); code != 0 || len(runs) != 2 {
		t.Errorf("triple fault alone: exit %d after %d runs; want 0 after 2\n%s", code, len(runs), out)
	}
}

// The two-host package's serial logs are named twohost-a-DATE.log and
// twohost-b-DATE.log (a boot retried: NAME-DATE-retry.log): a triple
// fault in either earns the rerun (one in tb-a's log went unseen).
func TestE2ERunReadsEveryBootsSerialLog(t *testing.T) {
	for _, name := range []string{"twohost-a-20261207-233117.log", "twohost-b-20261207-233117.log", "policy-20261207-220309-retry.log"} {
		dir := t.TempDir()
		log := filepath.Join(dir, "logs", name)
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(log, []byte("(XEN) d3v0 Triple fault - invoking HVM shutdown action 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		first := "--- FAIL: TestTwoHosts (565.98s)\n--- last 40 lines of " + log + " ---\nFAIL\n"
		out, code, runs := e2eRun(t, "", first, "--- PASS: TestTwoHosts (1.00s)\nPASS\n")
		if code != 0 || len(runs) != 2 || runs[1] != "^(TestTwoHosts)$" {
			t.Errorf("%s: exit %d, runs %q; want 0 and TestTwoHosts run again\n%s", name, code, runs, out)
		}
	}
}
