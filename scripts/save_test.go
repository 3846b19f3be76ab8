package scripts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 24: xlpt-save takes the devices out before xl save, keeps the
// plan beside the image, and puts them back when the save fails.
func TestSaveTakesTheDevicesOutFirst(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hvm1.save")
	out, code, log := runScript(t, "xlpt-save", "", nil, "hvm1", img)
	want := "xlpt [migrate] [detach] [--plan] [" + img + ".xlpt-plan] [hvm1]\nxl [save] [hvm1] [" + img + "]\n"
	if code != 0 || !strings.HasPrefix(log, want) || strings.Contains(log, "rollback") {
		t.Errorf("exit %d; want 0, the detach, then xl save, no rollback:\n%s\n%s", code, out, log)
	}
	if !strings.Contains(out, "RESULT 0: hvm1 saved to "+img) || !strings.Contains(out, "xlpt-restore "+img) {
		t.Errorf("the last line does not say where the guest is and how to restore it:\n%s", out)
	}
}

func TestSaveFailedPutsTheDevicesBack(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hvm1.save")
	for _, c := range []struct {
		env  []string
		code int
		says string
	}{
		{[]string{"FAIL_XL=1"}, 1, "RESULT 1: xl save failed; hvm1 runs here with every device back"},
		{[]string{"FAIL_XL=1", "FAIL_ROLLBACK=1"}, 4, "RESULT 4: xl save failed; hvm1 runs here, rollback failed"},
	} {
		out, code, log := runScript(t, "xlpt-save", "", c.env, "hvm1", img)
		if code != c.code || !strings.Contains(out, c.says) || !strings.Contains(log, "xlpt [migrate] [rollback] [--plan] ["+img+".xlpt-plan] [hvm1]") {
			t.Errorf("%v: exit %d; want %d saying %q, after a rollback:\n%s\n%s", c.env, code, c.code, c.says, out, log)
		}
	}
}

// A checkpoint (-c) leaves the guest running: its devices go back in.
func TestSaveCheckpointPutsTheDevicesBack(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hvm1.save")
	out, code, log := runScript(t, "xlpt-save", "", nil, "hvm1", img, "-c")
	if code != 0 || !strings.Contains(log, "xl [save] [-c] [hvm1] ["+img+"]") || !strings.Contains(log, "xlpt [migrate] [rollback]") ||
		!strings.Contains(out, "runs here with every device back") {
		t.Errorf("exit %d:\n%s\n%s", code, out, log)
	}
}

func TestSaveRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{"hvm1"}, {"-x", "img"}, {"../x", "img"}, {"hvm1", "-c"}, {"hvm1", ""}} {
		if out, code, log := runScript(t, "xlpt-save", "", nil, args...); code != 2 || log != "" {
			t.Errorf("%q: exit %d, ran %q; want 2 and nothing run\n%s", args, code, log, out)
		}
	}
}

// xlpt-restore reads the guest's name from the plan beside the image.
func TestRestorePutsTheDevicesBackIntoTheRestoredGuest(t *testing.T) {
	img := filepath.Join(t.TempDir(), "web 01.save")
	if _, code, _ := runScript(t, "xlpt-save", "", nil, "web 01", img); code != 0 {
		t.Fatal("save failed")
	}
	out, code, log := runScript(t, "xlpt-restore", "", nil, img)
	want := "xl [restore] [" + img + "]\nxlpt [migrate] [attach] [--plan] [" + img + ".xlpt-plan] [web 01]\n"
	if code != 0 || !strings.HasPrefix(log, want) || !strings.Contains(out, "RESULT 0: web 01 runs with every device") {
		t.Errorf("exit %d; want 0, xl restore then the attach into web 01:\n%s\n%s", code, out, log)
	}
}

func TestRestoreFailures(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hvm1.save")
	if _, code, _ := runScript(t, "xlpt-save", "", nil, "hvm1", img); code != 0 {
		t.Fatal("save failed")
	}
	for _, c := range []struct {
		env        []string
		code       int
		says       string
		attachRuns bool
	}{
		{[]string{"FAIL_XL=1"}, 1, "RESULT 1: hvm1 was not restored", false},
		{[]string{"FAIL_ATTACH=1"}, 3, "RESULT 3: hvm1 runs WITHOUT its devices", true},
	} {
		out, code, log := runScript(t, "xlpt-restore", "", c.env, img)
		if code != c.code || !strings.Contains(out, c.says) || strings.Contains(log, "[attach]") != c.attachRuns {
			t.Errorf("%v: exit %d; want %d saying %q (attach run: %v):\n%s\n%s", c.env, code, c.code, c.says, c.attachRuns, out, log)
		}
	}
	// No plan beside the image: nothing runs.
	other := filepath.Join(t.TempDir(), "plain.save")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code, log := runScript(t, "xlpt-restore", "", nil, other); code != 2 || log != "" || !strings.Contains(out, "no plan at "+other+".xlpt-plan") {
		t.Errorf("no plan: exit %d, ran %q\n%s", code, log, out)
	}
}

// An HVM guest hot-plugged while it still resumes loses ACPI hot-plug for
// good (the testbed's save-restore step): xlpt-restore waits
// XLPT_RESTORE_SETTLE seconds between the restore and the attach, for an
// HVM guest with devices only; a malformed value is refused before the
// restore.
func TestRestoreLetsAnHVMGuestResumeBeforeTheHotplug(t *testing.T) {
	plan := func(guestType, devices string) string {
		img := filepath.Join(t.TempDir(), "g.save")
		// as xlpt writes it: one field a line
		body := "{\n  \"version\": 1,\n  \"domain\": \"g1\",\n  \"guest_type\": \"" + guestType + "\",\n  \"devices\": [" + devices + "]\n}\n"
		if err := os.WriteFile(img+".xlpt-plan", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return img
	}
	dev := `{"bdf": "0000:00:05.0", "vdevfn": 48}`
	for _, c := range []struct {
		img, settle string
		waits       bool
	}{
		{plan("hvm", dev), "1", true},
		{plan("hvm", dev), "0", false},
		{plan("hvm", ""), "1", false}, // nothing to hot-plug
		{plan("pv", dev), "1", false}, // pcifront, no ACPI
	} {
		out, code, log := runScript(t, "xlpt-restore", "", []string{"XLPT_RESTORE_SETTLE=" + c.settle}, c.img)
		if code != 0 || strings.Contains(out, "waiting 1s for g1 to finish resuming") != c.waits ||
			!strings.Contains(log, "xlpt [migrate] [attach]") {
			t.Errorf("settle %s, %s: exit %d, want 0 and a wait: %v:\n%s\n%s", c.settle, c.img, code, c.waits, out, log)
		}
	}
	out, code, log := runScript(t, "xlpt-restore", "", []string{"XLPT_RESTORE_SETTLE=10s"}, plan("hvm", dev))
	if code != 2 || log != "" || !strings.Contains(out, `XLPT_RESTORE_SETTLE="10s": give whole seconds`) {
		t.Errorf("XLPT_RESTORE_SETTLE=10s: exit %d, ran %q:\n%s", code, log, out)
	}
}
