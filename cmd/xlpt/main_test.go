package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/getopt"
)

// run runs xlpt in-process and returns stdout, the printed error and the
// exit status main would use.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	app := newApp()
	var out, errw bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errw
	argv := append([]string{"xlpt"}, args...)
	err := runApp(app, argv)
	if err != nil {
		printError(&errw, err, jsonLogFormat(app, argv))
		code = exitCode(err)
	}
	return out.String(), errw.String(), code
}

// getoptArgs is getopt's reordered command line (its error, a flag given
// twice, is left for runApp).
func getoptArgs(app *cli.App, args []string) []string {
	out, _ := getopt.Args(app, args)
	return out
}

func TestPciSpecJSON(t *testing.T) {
	out, _, code := run(t, "pci-spec", "--json", "03:00.1@5,permissive=1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Schema string
		Specs  []struct {
			Spec, Outcome string
			Device        map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Schema != "xlpt/1" || len(doc.Specs) != 1 {
		t.Fatalf("%q: %v", out, err)
	}
	m := doc.Specs[0].Device
	keys := []string{"domain", "bus", "dev", "func", "vdevfn", "vfunc_mask", "msitranslate", "power_mgmt", "permissive", "seize", "rdm_policy", "name"}
	if len(m) != len(keys) {
		t.Errorf("fields %v; want exactly %v", m, keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s in %s", k, out)
		}
	}
	if m["vdevfn"] != 40.0 || m["func"] != 1.0 || m["bus"] != 3.0 || m["permissive"] != true || m["rdm_policy"] != nil || m["name"] != nil {
		t.Errorf("wrong values: %s", out)
	}
	// Global --json works too; one document lists every spec, malformed
	// ones with their outcome (and exit 2).
	out, _, code = run(t, "--json", "pci-spec", "01:00.0", "name=gpu,rdm_policy=relaxed", "01:00.0@0")
	doc.Specs = nil
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 2 || len(doc.Specs) != 3 ||
		doc.Specs[1].Device["rdm_policy"] != "relaxed" || doc.Specs[1].Device["name"] != "gpu" ||
		doc.Specs[2].Outcome != "malformed" || doc.Specs[2].Device != nil {
		t.Errorf("global --json output (exit %d) %q", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"pci-spec", "01:00.0"}, 0, ""},
		{[]string{"pci-spec", "01:00.0,permissive=yes"}, 2, "would silently read it as permissive=0"},
		{[]string{"pci-attach", "dom", "0:2:0.0,foo=1"}, 2, `pci-attach: malformed PCI_SPEC_STRING "0:2:0.0,foo=1"`},
		{[]string{"pci-attach", "dom", "0:2:0.0", "20"}, 2, "VSLOT"},
		{[]string{"pci-attach", "dom"}, 2, "missing arguments"},
		{[]string{"pci-detach", "--bogus", "dom", "01:00.0"}, 2, "pci-detach: unknown flag --bogus"},
		{[]string{"pci-assignable-add", "01:00.0@3"}, 2, `unexpected "@3" after the BDF`},
		{[]string{"--log-format", "xml", "pci-spec", "01:00.0"}, 2, "--log-format"},
		{[]string{"pci-attach", "--slots", "9-3", "dom", "01:00.0"}, 2, "slot range"},
	}
	for _, c := range cases {
		_, errs, code := run(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("xlpt %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, c.code, c.msg)
		}
	}
}

func TestWithoutHypervisorOneLineExit1(t *testing.T) {
	if _, err := os.Stat("/dev/xen/privcmd"); err == nil {
		t.Skip("this is a Xen dom0")
	}
	for _, args := range [][]string{{"pci-list", "0"}, {"pci-attach", "dom", "0:2:0.0", "7"}, {"pci-assignable-list"}} {
		_, errs, code := run(t, args...)
		if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "no Xen hypervisor") || !strings.Contains(errs, "not a Xen dom0") {
			t.Errorf("xlpt %v: exit %d, stderr %q; want exit 1 and one line naming the cause", args, code, errs)
		}
	}
}

func TestLogLevels(t *testing.T) {
	for _, c := range []struct {
		args []string
		want logrus.Level
	}{
		{nil, logrus.WarnLevel},
		{[]string{"-v"}, logrus.InfoLevel},
		{[]string{"-vv"}, logrus.DebugLevel},
		{[]string{"-v", "-v", "-v", "-v"}, logrus.TraceLevel},
		{[]string{"-vv", "--log-level", "error"}, logrus.ErrorLevel},
	} {
		run(t, append(c.args, "pci-spec", "01:00.0")...)
		if got := logrus.GetLevel(); got != c.want {
			t.Errorf("%v: level %v; want %v", c.args, got, c.want)
		}
	}
}

func TestErrorsNameTheCommandOnce(t *testing.T) {
	for i := 0; i < 3; i++ {
		_, errs, _ := run(t, "cfg", "add-pci", "/nonexistent", "x")
		if !strings.HasPrefix(errs, "xlpt: cfg add-pci: malformed") {
			t.Fatalf("run %d: %q", i, errs)
		}
	}
}

// Every message names the input and the fix in plain words: no bare Go
// error text, and under --log-format json the final error is a JSON
// record (issue 22).
func TestErrorsInPlainWords(t *testing.T) {
	tr, bdf := sampleHost(t)
	tmp := t.TempDir()
	garbage := filepath.Join(tmp, "garbage.plan")
	os.WriteFile(garbage, []byte("garbage\n"), 0o644)
	goWords := []string{"no such file or directory", "is a directory\n", "invalid character", "resource temporarily unavailable", "open /", "read /"}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cfg", "check", "/nonexistent.cfg"}, 1, "cfg check: read the guest's xl.cfg: /nonexistent.cfg does not exist"},
		{[]string{"cfg", "check", tmp}, 1, tmp + " is a directory, not a file"},
		{[]string{"migrate", "status", "--plan", garbage}, 1, garbage + " is not a plan (not valid JSON at byte 1)"},
		{[]string{"--sysfs-root", tr.Root, "--config-dir", tmp, "--json", "restore"}, 0, "nothing to restore: there is no " + tmp + "/devices.conf"},
		{[]string{"--sysfs-root", tr.Root, "pci-assignable-remove", "0000:7e:1f.7"}, 1, "pci-assignable-remove: no such PCI device on this host: 0000:7e:1f.7"},
		{[]string{"--sysfs-root", tr.Root, "pci-assignable-remove", bdf("e1000e")}, 0, ""},
	} {
		out, errs, code := run(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("xlpt %q: exit %d, stderr %q; want exit %d with %q", c.args, code, errs, c.code, c.want)
		}
		for _, w := range goWords {
			if strings.Contains(errs+out, w) {
				t.Errorf("xlpt %q says %q, Go's words: %q", c.args, w, errs)
			}
		}
	}
	_, errs, code := run(t, "--log-format", "json", "cfg", "check", "/nonexistent.cfg")
	var rec map[string]any
	if err := json.Unmarshal([]byte(errs), &rec); err != nil || code != 1 || rec["level"] != "error" || rec["command"] != "cfg check" ||
		!strings.Contains(rec["msg"].(string), "/nonexistent.cfg does not exist") || rec["exit_status"] != 1.0 {
		t.Errorf("--log-format json: exit %d, stderr %q (%v)", code, errs, err)
	}
	_, errs, code = run(t, "cfg", "check", "--bogus", "--log-format=json")
	if err := json.Unmarshal([]byte(errs), &rec); err != nil || code != 2 || rec["exit_status"] != 2.0 {
		t.Errorf("--log-format=json, flag error: exit %d, stderr %q (%v)", code, errs, err)
	}
}

// `xlpt --help` and `xlpt -h` show the commands and exit 0, as `xlpt help`
// does (they exited 2 with Go's "flag: help requested").
func TestTopLevelHelpFlag(t *testing.T) {
	for _, f := range []string{"--help", "-h"} {
		out, errs, code := run(t, f)
		if code != 0 || !strings.Contains(out, "pci-attach") || errs != "" {
			t.Errorf("xlpt %s: exit %d, stdout %q, stderr %q; want the commands and exit 0", f, code, out, errs)
		}
	}
}
