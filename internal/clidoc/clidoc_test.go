package clidoc

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp has what the generators must handle: global flags with env
// vars and defaults, aliases, a command with subcommands, repeated
// positional arguments, flags named in ArgsUsage, text that roff would
// take as a request.
func testApp(t *testing.T) *cli.App {
	t.Helper()
	app := &cli.App{
		Name:        "prog",
		Usage:       "do things",
		Version:     "1.2.3~git4.abc",
		Description: "First paragraph,\nfilled.\n\nExamples:\n   prog go web01 0000:03:00.0\n.dot at line start, back\\slash",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"PROG_LOG"}, Usage: "log level"},
			&cli.StringFlag{Name: "root", Value: "/sys", Usage: "Where sysfs is (a `DIR`)"},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Usage: "Say more"},
		},
		Commands: []*cli.Command{
			{Name: "go", Aliases: []string{"g"}, Usage: "Go somewhere", ArgsUsage: "[-f] DOMAIN DEVICE [SLOT]",
				Description: "Moves it:\n\n  - first item,\n    continued\n  - second item",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Force it"},
					&cli.StringFlag{Name: "driver", Usage: "Which driver"},
					&cli.Uint64Flag{Name: "maxmem", Usage: "In MiB (default: memory)"},
					&cli.IntFlag{Name: "tries", Usage: "How often (0: once)"},
				}},
			{Name: "show", Usage: "Show devices", ArgsUsage: "[DEVICE...]"},
			{Name: "secret", Hidden: true, Usage: "Not for users"},
			{Name: "cfg", Usage: "Config files", Subcommands: []*cli.Command{
				{Name: "add", Usage: "Add one", ArgsUsage: "FILE DEVICE"},
			}},
		},
	}
	app.Setup()
	return app
}

func TestPositional(t *testing.T) {
	for usage, want := range map[string][]string{
		"DOMAIN PCI_SPEC_STRING [VSLOT]":                      {"DOMAIN", "PCI_SPEC_STRING", "VSLOT"},
		"[-n NAME] [--driver pciback|pci-stub] [--group] BDF": {"BDF"},
		"[BDF...]":             {"BDF..."},
		"FILE BDF|PCI_SPEC...": {"FILE", "BDF|PCI_SPEC..."},
		"":                     nil,
	} {
		if got := Positional(usage); !reflect.DeepEqual(got, want) {
			t.Errorf("Positional(%q) = %q, want %q", usage, got, want)
		}
	}
}

func TestManContent(t *testing.T) {
	page := Man(testApp(t), Page{Section: "1", Date: "2026-01-02", Manual: "Test",
		Extra: []Section{{Title: "Files", Items: [][2]string{{"/etc/prog.conf", "Settings."}}}}})
	for _, want := range []string{
		`.TH PROG 1 "2026\-01\-02" "prog 1.2.3~git4.abc" "Test"`,
		`prog \- do things`,
		`.SS "prog go [OPTIONS] [\-f] DOMAIN DEVICE [SLOT]"`,
		`.SS "prog cfg add FILE DEVICE"`,
		".IP \\(bu 3\nfirst item, continued\n",
		"\\fB\\-f\\fR, \\fB\\-\\-force\\fR\nForce it.",
		"\\fB\\-\\-driver\\fR \\fIDRIVER\\fR\nWhich driver.",
		"\\fB\\-\\-root\\fR \\fIDIR\\fR\nWhere sysfs is (a DIR). Default: /sys.",
		".TP\n.B PROG_LOG\nAs \\-\\-log\\-level: log level.",
		".RS 2\n.nf\nprog go web01 0000:03:00.0\n",
		"\\&.dot at line start, back\\eslash",
		".SH \"FILES\"\n.TP\n.B /etc/prog.conf\nSettings.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "secret") {
		t.Error("man page shows the hidden command")
	}
	// A default the usage gives, or a zero, is not added again.
	if strings.Contains(page, "Default: 0") || strings.Contains(page, "(default: memory). Default") {
		t.Errorf("man page doubles or invents a default:\n%s", page)
	}
	// --help is listed once, with the global options.
	if n := strings.Count(page, `\-\-help`); n != 1 {
		t.Errorf("--help appears %d times, want 1", n)
	}
}

// TestManRenders runs the page through groff with warnings on: a roff
// mistake (an unknown request, a bad escape) shows up here.
func TestManRenders(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff")
	}
	page := Man(testApp(t), Page{Section: "1", Date: "2026-01-02", Manual: "Test"})
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou")
	var stderr strings.Builder
	cmd.Stdin, cmd.Stderr = strings.NewReader(page), &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("groff warns: %s", stderr.String())
	}
	if !strings.Contains(string(out), "prog go [OPTIONS] [-f] DOMAIN DEVICE [SLOT]") {
		t.Errorf("rendered page lacks the go synopsis:\n%s", out)
	}
}

// complete sources the generated script in bash, completes line (the
// cursor at its end) and returns the candidates.
func complete(t *testing.T, script, line string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c",
		`source "$1" && COMP_LINE=$2 && COMP_POINT=${#COMP_LINE} && _prog && printf '%s\n' "${COMPREPLY[@]}"`, "bash", f, line)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	return got
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	files := t.TempDir()
	for _, n := range []string{"web.cfg", "db.cfg"} {
		if err := os.WriteFile(filepath.Join(files, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := Bash(testApp(t), Completion{
		Helpers: `_prog_devs() { echo 0000:03:00.0 0000:03:00.1 0000:04:00.0; }`,
		Words: func(cmd, what string) string {
			switch what {
			case "DOMAIN":
				return "echo web01 db01"
			case "DEVICE":
				return "_prog_devs"
			case "FILE":
				return FilesWords
			case "--driver":
				return "echo pciback pci-stub"
			case "--root":
				return DirsWords
			}
			return ""
		}})
	// Process substitution needs /dev/fd, which dom0's initramfs lacks
	// (the testbed's TestPackagedXlpt found it).
	if strings.Contains(script, "<(") {
		t.Error("the script uses process substitution")
	}
	if got := completeWithoutDevFd(t, script, "prog sh"); got != "show" && got != "skip" {
		t.Errorf("without /dev/fd: complete %q = %q, want show", "prog sh", got)
	}
	for _, c := range []struct {
		line string
		want []string
	}{
		{"prog ", []string{"go", "show", "cfg", "help"}}, // not the hidden one
		{"prog s", []string{"show"}},
		{"prog -", []string{"--log-level", "--root", "--debug", "-d", "--help", "-h", "--version", "-v"}},
		{"prog go -", []string{"--force", "-f", "--driver", "--maxmem", "--tries", "--help", "-h"}},
		{"prog go ", []string{"web01", "db01"}},
		{"prog g w", []string{"web01"}},                                                                   // alias
		{"prog --log-level debug go -f web01 ", []string{"0000:03:00.0", "0000:03:00.1", "0000:04:00.0"}}, // flags and their values skipped
		{"prog go --driver ", []string{"pciback", "pci-stub"}},
		{"prog go --driver=pci-", []string{"pci-stub"}},
		{"prog go web01 0000:03:00.", []string{"00.0", "00.1"}}, // after the last colon, as bash replaces it
		{"prog go web01 0000:03:00.0 ", nil},                    // SLOT: nothing to offer
		{"prog show 0000:03:00.0 0000:04", []string{"04:00.0"}}, // DEVICE... repeats
		{"prog cfg ", []string{"add"}},
		{"prog cfg add " + files + "/w", []string{files + "/web.cfg"}},
		{"prog cfg add x.cfg ", []string{"0000:03:00.0", "0000:03:00.1", "0000:04:00.0"}},
		{"prog go -- -x ", []string{"0000:03:00.0", "0000:03:00.1", "0000:04:00.0"}}, // after --, -x is DOMAIN
		{"prog help ", []string{"go", "show", "cfg", "help"}},
	} {
		got := complete(t, script, c.line)
		if !sameSet(got, c.want) {
			t.Errorf("complete %q = %q, want %q", c.line, got, c.want)
		}
	}
}

// completeWithoutDevFd completes line in a mount namespace whose /dev is
// an empty tmpfs, as in a minimal initramfs; "skip" when that cannot be set
// up (not root, no unshare).
func completeWithoutDevFd(t *testing.T, script, line string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return "skip"
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return "skip"
	}
	f := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs none /dev || exit 99
exec bash --norc --noprofile -c 'source "$1" && COMP_LINE=$2 && COMP_POINT=${#COMP_LINE} && { _prog; echo "${COMPREPLY[*]}"; }' bash "$0" "$1"`,
		f, line).Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
		return "skip"
	} else if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, v := range a {
		m[v]++
	}
	for _, v := range b {
		m[v]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
