package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakes writes fake ssh, xl, xlpt and hostname into a directory first on
// PATH. Each logs its arguments, one per line, to LOG. ssh runs its
// command line with sh -c, as the target's shell would (a plan copy,
// cat > FILE, writes to REMOTE_PLAN instead, or fails with
// FAIL_COPY=1); xl fails with FAIL_XL=1. xlpt migrate detach writes a
// plan naming the domain; migrate attach and rollback fail with
// FAIL_ATTACH=1 and FAIL_ROLLBACK=1.
func fakes(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "log")
	scripts := map[string]string{
		"ssh": `#!/bin/sh
{ printf 'ssh'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >>"$LOG"
while [ $# -gt 0 ]; do case $1 in --) shift; break ;; -*) shift ;; *) break ;; esac; done
shift # the host
case $* in
*"cat >"*)
	[ "${FAIL_COPY:-}" = 1 ] && exit 1
	# FAIL_COPY=2: the second copy (after the preflight's) fails
	if [ "${FAIL_COPY:-}" = 2 ] && [ -e "$LOG.copied" ]; then exit 1; fi
	: >"$LOG.copied"
	cat >"$REMOTE_PLAN"; exit 0 ;;
esac
exec sh -c "$*"
`,
		"xl": `#!/bin/sh
{ printf 'xl'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >>"$LOG"
[ "${FAIL_XL:-}" = 1 ] && exit 1
[ "$1" = migrate ] && [ "${FAIL_XL_MIGRATE:-}" = 1 ] && exit 1
exit 0
`,
		"xlpt": `#!/bin/sh
{ printf 'xlpt'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >>"$LOG"
case "$1 $2" in
"migrate detach")
	# the plan after --plan, the domain last, whatever options come first
	shift 2
	while [ "$1" != --plan ]; do shift; done
	printf '{\n  "version": 1,\n  "domain": "%s",\n  "devices": []\n}\n' "$3" >"$2" ;;
"migrate status") echo "status of $3" ;;
"migrate check") [ "${FAIL_CHECK:-}" = 1 ] && { echo "xlpt: migrate check: no free device" >&2; exit 1; } ;;
"migrate attach") [ "${FAIL_ATTACH:-}" = 1 ] && exit 1 ;;
"migrate rollback")
	[ "${FAIL_ROLLBACK:-}" = 1 ] && exit 1
	if [ "${FAIL_ROLLBACK_LOGDIRTY:-}" = 1 ] && [ ! -e "$LOG.logdirty" ]; then
		: >"$LOG.logdirty"
		echo "xlpt: migrate rollback: domain in log-dirty mode: hvm1 is in log-dirty mode ..." >&2
		exit 1
	fi ;;
esac
exit 0
`,
		"hostname": "#!/bin/sh\necho src\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// migrate runs scripts/xlpt-migrate DOM TARGET with the fakes and env,
// in the directory cwd ("": a new one).
func migrate(t *testing.T, cwd string, env []string, args ...string) (out string, code int, log string) {
	t.Helper()
	return runScript(t, "xlpt-migrate", cwd, env, args...)
}

// runScript runs scripts/NAME with the fakes and env, in the directory
// cwd ("": a new one).
func runScript(t *testing.T, name, cwd string, env []string, args ...string) (out string, code int, log string) {
	t.Helper()
	bin, logf := fakes(t)
	script, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{script}, args...)...)
	cmd.Dir = cwd
	if cwd == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Env = append(os.Environ(), append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "LOG=" + logf,
		"REMOTE_PLAN=" + filepath.Join(bin, "remote-plan")}, env...)...)
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(logf)
	return string(b), code, string(l)
}

// Issue 25: the domain name goes to the target's shell as one word:
// 'web01;echo INJECTED' runs nothing there.
func TestMigrateQuotesWhatItRunsOnTheTarget(t *testing.T) {
	for _, dom := range []string{"web01;echo INJECTED-ON-TARGET >injected", "web01$(touch injected)", "it's`touch injected`"} {
		dir := t.TempDir()
		injected := filepath.Join(dir, "injected") // the "target" runs in dir
		plan := filepath.Join(dir, "plan")
		out, code, log := migrate(t, dir, []string{"XLPT_MIGRATE_PLAN=" + plan}, dom, "target")
		if _, err := os.Stat(injected); err == nil {
			t.Errorf("%q ran on the target:\n%s\n%s", dom, out, log)
		}
		if code != 0 || !strings.Contains(out, "RESULT 0") {
			t.Errorf("%q: exit %d:\n%s\n%s", dom, code, out, log)
		}
		// The target's xlpt got the name whole, as one argument.
		if !strings.Contains(log, "xlpt [migrate] [attach] [--plan] ["+plan+"] ["+dom+"]") {
			t.Errorf("the target's xlpt was not given %q as one word:\n%s", dom, log)
		}
		if !strings.Contains(log, "ssh [--] [target] ") {
			t.Errorf("ssh was not given the target after --:\n%s", log)
		}
	}
}

// Once xl migrate has moved the guest to another host, the plan here is
// done with: kept as FILE.done, so that a guest that came back can be
// migrated again (its plan here would otherwise read "detached", and the
// preflight refuses to replace a migration under way). A localhost
// migration keeps the one plan both sides use.
func TestMigrateRetiresTheSourcePlan(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan")
	out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan}, "web01", "target")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, log)
	}
	if _, err := os.Stat(plan); err == nil {
		t.Errorf("the plan is still at %s after the guest left", plan)
	}
	if _, err := os.Stat(plan + ".done"); err != nil {
		t.Errorf("no %s.done: %v", plan, err)
	}
	_, code, _ = migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "XLPT_MIGRATE_REMOTE="}, "hvm1", "xl migrate-receive", "-s", "")
	if _, err := os.Stat(plan); code != 0 || err != nil {
		t.Errorf("a localhost migration: exit %d, plan %v; want 0 and the plan kept", code, err)
	}
}

// XLPT_MIGRATE_DETACH and XLPT_MIGRATE_ATTACH reach the detach here and
// the attach on the target, as options before the plan.
func TestMigrateExtraOptions(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan")
	out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan,
		"XLPT_MIGRATE_DETACH=--timeout 60", "XLPT_MIGRATE_ATTACH=--assign"}, "web01", "target")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, log)
	}
	for _, want := range []string{"xlpt [migrate] [detach] [--timeout] [60] [--plan] [" + plan + "] [web01]",
		"xlpt [migrate] [attach] [--assign] [--plan] [" + plan + "] [web01]"} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the calls:\n%s", want, log)
		}
	}
}

// A broken migration can leave the guest in log-dirty mode, where Xen
// refuses its devices: the rollback that says so is followed by a
// checkpoint save (which turns log-dirty off) and the rollback again.
func TestMigrateRollbackAfterLogDirty(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan")
	out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "FAIL_XL_MIGRATE=1", "FAIL_ROLLBACK_LOGDIRTY=1"}, "hvm1", "target")
	if code != 1 || !strings.Contains(out, "RESULT 1: migration failed; hvm1 runs on src with every device back") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	want := "xlpt [migrate] [rollback] [--plan] [" + plan + "] [hvm1]\nxl [save] [-c] [hvm1] [/dev/null]\nxlpt [migrate] [rollback]"
	if !strings.Contains(log, want) {
		t.Errorf("calls lack rollback, xl save -c, rollback:\n%s", log)
	}
	// Without the log-dirty cause, no checkpoint: a failed rollback stands.
	_, code, log = migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "FAIL_XL_MIGRATE=1", "FAIL_ROLLBACK=1"}, "hvm1", "target")
	if code != 4 || strings.Contains(log, "xl [save]") {
		t.Errorf("a rollback failing for another cause: exit %d, calls:\n%s", code, log)
	}
}

// A plan that cannot be copied to the target stops the migration. At the
// preflight (FAIL_COPY=1: every copy fails) nothing was detached; after
// the detach (FAIL_COPY=2: the second copy fails) the devices go back
// into the guest here. xl migrate never runs.
func TestMigrateStopsWhenThePlanCopyFails(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan")
	detach := "xlpt [migrate] [detach] [--plan]"
	for _, c := range []struct{ fail, say, calls, not string }{
		{"1", "could not copy the plan to target; web01 stays on src with every device, nothing changed", "", detach},
		{"2", "could not copy the plan to target, so web01 was not migrated", "xlpt [migrate] [rollback]", ""},
	} {
		out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "FAIL_COPY=" + c.fail}, "web01", "target")
		if strings.Contains(log, "xl [migrate]") {
			t.Errorf("FAIL_COPY=%s: xl migrate ran without the plan on the target:\n%s", c.fail, log)
		}
		if c.calls != "" && !strings.Contains(log, c.calls) || c.not != "" && strings.Contains(log, c.not) {
			t.Errorf("FAIL_COPY=%s: want %q and not %q in the calls:\n%s", c.fail, c.calls, c.not, log)
		}
		if code != 1 || !strings.Contains(out, "RESULT 1: "+c.say) {
			t.Errorf("FAIL_COPY=%s: exit %d:\n%s", c.fail, code, out)
		}
	}
}

// The preflight on the target refuses before anything changes: no
// detach, no xl migrate, the guest keeps every device.
func TestMigrateTargetCheckRefusesBeforeAnyChange(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan")
	out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "FAIL_CHECK=1", "XLPT_MIGRATE_ATTACH=--assign"}, "web01", "target")
	if code != 1 || !strings.Contains(out, "RESULT 1: target cannot take web01 with its devices") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(log, "xlpt [migrate] [detach] [--dry-run] [--plan] ["+plan+"] [web01]") ||
		!strings.Contains(log, "'xlpt' 'migrate' 'check' '--assign' '--plan'") {
		t.Errorf("no dry run here and check there:\n%s", log)
	}
	if strings.Contains(log, "xlpt [migrate] [detach] [--plan]") || strings.Contains(log, "xl [migrate]") {
		t.Errorf("something changed after the refusal:\n%s", log)
	}
}

// A localhost migration (XLPT_MIGRATE_REMOTE empty) copies nothing and
// runs the attach here, as before; a domain name that could be an
// option or a path is refused.
func TestMigrateLocalAndBadNames(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan")
	out, code, log := migrate(t, "", []string{"XLPT_MIGRATE_PLAN=" + plan, "XLPT_MIGRATE_REMOTE="}, "hvm1", "xl migrate-receive", "-s", "")
	if code != 0 || strings.Contains(log, "ssh") || !strings.Contains(log, "xlpt [migrate] [attach] [--plan] ["+plan+"] [hvm1]") {
		t.Errorf("localhost migration: exit %d\n%s\n%s", code, out, log)
	}
	for _, dom := range []string{"-oProxyCommand=x", "../etc/x", ""} {
		if out, code, log := migrate(t, "", nil, dom, "target"); code != 2 || log != "" {
			t.Errorf("domain %q: exit %d\n%s\n%s", dom, code, out, log)
		}
	}
}
