package main

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// xl parses with getopt: flags anywhere, "--" ends them. getoptArgs
// reorders a command line into what urfave/cli reads.
func TestGetoptArgs(t *testing.T) {
	app := newApp()
	for _, c := range []struct{ in, want string }{
		// flags after the positional arguments
		{"pci-detach dom 03:00.0 -f", "pci-detach -f dom 03:00.0"},
		{"pci-spec 01:00.0 --json", "pci-spec --json 01:00.0"},
		// between them, with a value
		{"pci-attach dom -o msitranslate=0 0:2:0.0 7", "pci-attach -o msitranslate=0 dom 0:2:0.0 7"},
		{"pci-attach dom 0:2:0.0 --options=permissive=1", "pci-attach --options=permissive=1 dom 0:2:0.0"},
		// before them: unchanged
		{"pci-attach -o msitranslate=0 dom 0:2:0.0 7", "pci-attach -o msitranslate=0 dom 0:2:0.0 7"},
		// "--" ends the flags; what follows stays positional
		{"pci-assignable-remove -- -r", "pci-assignable-remove -- -r"},
		{"pci-detach dom -- 03:00.0 -f", "pci-detach -- dom 03:00.0 -f"},
		// a global flag after the command name moves before it
		{"check 03:00.0 --sysfs-root /x --json", "--sysfs-root /x check --json 03:00.0"},
		{"-v check --no-libxl 03:00.0", "-v check --no-libxl 03:00.0"},
		// subcommands
		{"cfg check /etc/xen/a.cfg --json", "cfg check --json /etc/xen/a.cfg"},
		{"rdm check --memory 1024 --pci 00:03.0 --no-xen", "rdm check --memory 1024 --pci 00:03.0 --no-xen"},
		{"rdm list 00:14.0 --no-xen --rmrr 0xf0-0xff=0000:00:14.0", "rdm list --no-xen --rmrr 0xf0-0xff=0000:00:14.0 00:14.0"},
		// a value that looks like a positional is still the flag's
		{"pci-assignable-add 03:00.0 -n nic1", "pci-assignable-add -n nic1 03:00.0"},
		// unknown flags stay flags, for urfave/cli to name
		{"pci-detach dom 03:00.0 --bogus", "pci-detach --bogus dom 03:00.0"},
		// not a command line of ours: untouched
		{"help pci-attach", "help pci-attach"},
		{"nosuch a -f", "nosuch a -f"},
	} {
		got := getoptArgs(app, append([]string{"xlpt"}, strings.Fields(c.in)...))[1:]
		if want := strings.Fields(c.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %q\n want %q", c.in, got, want)
		}
	}
}

// The forms of issue 10 parse; without Xen they reach libxl's absence
// (exit 1), not a usage error.
func TestXlFormsParse(t *testing.T) {
	if _, err := os.Stat("/dev/xen/privcmd"); err == nil {
		t.Skip("this is a Xen dom0")
	}
	for _, args := range [][]string{
		{"pci-detach", "dom", "0:2:0.0", "-f"},
		{"pci-attach", "-o", "msitranslate=0", "dom", "0:2:0.0", "7"},
		{"pci-attach", "dom", "0:2:0.0", "0x7", "--options=msitranslate=0,permissive=1"},
		{"pci-list", "dom", "--format", "xl"},
	} {
		_, errs, code := run(t, args...)
		if code != 1 || !strings.Contains(errs, "no Xen hypervisor") {
			t.Errorf("xlpt %q: exit %d, %q; want exit 1, no Xen hypervisor", args, code, errs)
		}
	}
	out, errs, code := run(t, "pci-spec", "01:00.0", "--json")
	if code != 0 || !strings.Contains(out, `"bus"`) {
		t.Errorf("pci-spec 01:00.0 --json: exit %d, %q %q", code, out, errs)
	}
}

// xl.MergeOptions has the table; here the command's exit status.
func TestOptionsMerge(t *testing.T) {
	_, errs, code := run(t, "pci-attach", "dom", "0:2:0.0,msitranslate=1", "-o", "msitranslate=0")
	if code != 2 || !strings.Contains(errs, "given twice") {
		t.Errorf("key both ways: exit %d, %q", code, errs)
	}
}

// The top-level flag error had its prefix twice and an empty help name.
func TestFlagErrorPrefixOnce(t *testing.T) {
	_, errs, code := run(t, "--jsn", "check")
	if code != 2 || strings.Count(errs, "xlpt:") != 1 || strings.Contains(errs, "help `") || !strings.Contains(errs, "-jsn") {
		t.Errorf("xlpt --jsn check: exit %d, %q", code, errs)
	}
	_, errs, _ = run(t, "cfg", "check", "--jsn", "x")
	if !strings.HasPrefix(errs, "xlpt: cfg check: unknown flag --jsn; did you mean --json? (see 'xlpt cfg check --help')") {
		t.Errorf("xlpt cfg check --jsn: %q", errs)
	}
}

// urfave/cli takes the first `word` of a flag's usage as its placeholder
// and drops the backticks: `xl pci-list` in a usage ate words in --help.
// Backticks may only mark a placeholder.
func TestFlagUsageBackticks(t *testing.T) {
	placeholder := regexp.MustCompile("^[^`]*(`[A-Z][A-Z_]*`)?[^`]*$")
	var walk func(prefix string, cmds []*cli.Command)
	check := func(where string, fs []cli.Flag) {
		for _, f := range fs {
			if u, ok := f.(interface{ GetUsage() string }); ok && !placeholder.MatchString(u.GetUsage()) {
				t.Errorf("%s --%s: usage %q has backticks around something other than one PLACEHOLDER", where, f.Names()[0], u.GetUsage())
			}
		}
	}
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(prefix+c.Name, c.Flags)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	app := newApp()
	check("xlpt", app.Flags)
	walk("", app.Commands)
	var out bytes.Buffer
	app.Writer = &out
	app.Run([]string{"xlpt", "pci-list", "--help"})
	if !strings.Contains(out.String(), "xl pci-list prints") {
		t.Errorf("pci-list --help:\n%s", out.String())
	}
}

// Usage, unknown commands, help and flag errors in one form, with xl's
// exit codes (issue 22): the command's full name, the input, the fix, no
// Go flag-package wording.
func TestUsageInOneForm(t *testing.T) {
	for _, c := range []struct {
		args    []string
		code    int
		want    string // on stderr, or on stdout for help
		notWant string
	}{
		{[]string{"sriov", "enable", "03:00.0"}, 2, "usage: xlpt sriov enable [--assignable", ""},
		{[]string{"cfg", "check"}, 2, "usage: xlpt cfg check FILE", ""},
		{[]string{"cfg", "add-pci"}, 2, "usage: xlpt cfg add-pci FILE PCI_SPEC_STRING", ""},
		{[]string{"nosuchcmd"}, 2, `unknown command "nosuchcmd"`, "Did you mean"},
		{[]string{"help", "nosuch"}, 2, `unknown command "nosuch"`, "gen-docs"},
		{[]string{"help", "gen-doc"}, 2, `unknown command "gen-doc"`, "gen-docs"},
		{[]string{"version"}, 2, "did you mean the flag --version?", "sriov"},
		{[]string{"pci-atach", "web01", "00:03.0"}, 2, `did you mean "pci-attach"?`, ""},
		{[]string{"cfg"}, 2, "cfg: name a subcommand: check, add-pci, remove-pci", ""},
		{[]string{"cfg", "chek", "x.cfg"}, 2, `cfg: unknown subcommand "chek"; did you mean "check"?`, ""},
		{[]string{"pci-attach", "web01", "--help", "00:03.0"}, 0, "xlpt pci-attach - Hot-plug", "No help topic"},
		{[]string{"help", "cfg", "check"}, 0, "xlpt cfg check - Say, before xl create", ""},
		{[]string{"cfg", "help", "check"}, 0, "xlpt cfg check - Say, before xl create", ""},
		{[]string{"pci-spec", "-vv", "00:03.0"}, 0, "0000:00:03.0", ""},
		{[]string{"pci-spec", "00:03.0", "-vv", "--json"}, 0, `"schema"`, ""},
		{[]string{"--bogus", "check"}, 2, "xlpt: unknown flag --bogus (see 'xlpt help')", "flag provided"},
		{[]string{"check", "--bogus"}, 2, "xlpt: check: unknown flag --bogus (see 'xlpt check --help')", "flag provided"},
		{[]string{"rdm", "check", "--memory", "-5"}, 2, `rdm check: --memory "-5": give a whole number, 0 or more`, "parse error"},
		{[]string{"sriov", "enable", "--wait", "soon", "03:00.0", "2"}, 2, `--wait "soon": give a duration`, "parse error"},
		{[]string{"pci-assignable-add", "-n", "a", "-n", "b", "03:00.0"}, 2, `pci-assignable-add: --name given twice ("a" and "b"): give it once`, ""},
		{[]string{"pci-assignable-add", "03:00.0", "-n", "a", "--name=b"}, 2, `--name given twice`, ""},
		{[]string{"--sysfs-root", "/a", "check", "--sysfs-root", "/b"}, 2, `--sysfs-root given twice ("/a" and "/b")`, ""},
		{[]string{"msi", "--device-model", "qemu", "00:03.0"}, 2, `msi: --device-model "qemu": qemu-xen or qemu-xen-traditional`, ""},
		{[]string{"rdm", "check", "--device-model", "foo", "--memory", "1024"}, 2, `--device-model "foo"`, ""},
	} {
		out, errs, code := run(t, c.args...)
		got := errs
		if c.code == 0 {
			got = out
		}
		if code != c.code || !strings.Contains(got, c.want) || c.notWant != "" && strings.Contains(out+errs, c.notWant) {
			t.Errorf("xlpt %q: exit %d, stdout %q, stderr %q; want exit %d with %q (and not %q)", c.args, code, out, errs, c.code, c.want, c.notWant)
		}
	}
}

// Help shows each default once, and none on switches and counters.
func TestHelpDefaults(t *testing.T) {
	out, _, _ := run(t, "--help")
	for _, bad := range []string{"(default: false)", "(default: 0)"} {
		if strings.Contains(out, bad) {
			t.Errorf("xlpt --help shows %q:\n%s", bad, out)
		}
	}
	out, _, _ = run(t, "rdm", "check", "--help")
	if strings.Contains(out, "(default: memory) (default: 0)") || strings.Contains(out, "(default: false)") {
		t.Errorf("rdm check --help doubles or empties defaults:\n%s", out)
	}
	if !strings.Contains(out, "(default: 2048)") || !strings.Contains(out, "(default: true)") {
		t.Errorf("rdm check --help lost a real default:\n%s", out)
	}
}
