package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/help"
)

// TestManPageCoversCommands: the generated page renders without roff
// warnings and documents every visible command, subcommand and flag.
func TestManPageCoversCommands(t *testing.T) {
	page, _, code := run(t, "gen-docs", "man")
	if code != 0 {
		t.Fatalf("gen-docs man: exit %d", code)
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou")
	var stderr strings.Builder
	cmd.Stdin, cmd.Stderr = strings.NewReader(page), &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	text := string(out)
	app := newApp()
	app.Setup()
	for _, c := range app.VisibleCommands() {
		want := []string{"xlpt " + c.Name}
		for _, sub := range c.VisibleCommands() {
			want = append(want, "xlpt "+c.Name+" "+sub.Name)
			for _, f := range sub.Flags {
				want = append(want, "--"+f.Names()[0])
			}
		}
		for _, f := range c.Flags {
			want = append(want, "--"+f.Names()[0])
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("man page lacks %q (command %s)", w, c.Name)
			}
		}
	}
	if strings.Contains(text, "gen-docs") {
		t.Error("man page shows the hidden gen-docs command")
	}
}

// TestCompletionScript completes real xlpt command lines in bash.
func TestCompletionScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, _, code := run(t, "gen-docs", "bash")
	if code != 0 {
		t.Fatalf("gen-docs bash: exit %d", code)
	}
	f := filepath.Join(t.TempDir(), "xlpt")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"xlpt pci-as":                         "pci-assignable-add pci-assignable-list pci-assignable-remove",
		"xlpt pci-detach --f":                 "--force",
		"xlpt pci-detach web01 --s":           "--state-dir --sysfs-root", // global flags after the command, as getopt.go reads them
		"xlpt pci-attach -o msi":              "msitranslate=",
		"xlpt pci-assignable-add --driver ":   "pci-stub pciback",
		"xlpt cfg ":                           "add-pci check remove-pci",
		"xlpt --log-format ":                  "json text",
		"xlpt msi --device-model qemu-xen-t":  "qemu-xen-traditional",
		"xlpt -v rdm check --as xl --vga std": "stdvga",
		"xlpt help pci-d":                     "pci-detach",
		"xlpt pci-attach web01 0000:00:00.0 ": "", // VSLOT: nothing offered
		"xlpt --sysfs-root /nonexistent/dir ": "cfg check help hide-cmdline migrate msi pci-assignable-add pci-assignable-list pci-assignable-remove pci-attach pci-detach pci-list pci-move pci-spec rdm recover restore sriov",
	} {
		out, err := exec.Command("bash", "--norc", "--noprofile", "-c",
			`source "$1" && complete -p xlpt >/dev/null && COMP_LINE=$2 && COMP_POINT=${#COMP_LINE} && _xlpt && printf '%s\n' "${COMPREPLY[@]}" | sort | xargs`,
			"bash", f, line).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: bash: %v\n%s", line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("complete %q = %q, want %q", line, got, want)
		}
	}
}

// The man page's EXIT STATUS, FILES and SEE ALSO say what the package
// really ships and does (issue 22).
func TestManPageSections(t *testing.T) {
	page, _, code := run(t, "gen-docs", "man")
	if code != 0 {
		t.Fatalf("gen-docs man: exit %d", code)
	}
	for _, want := range []string{
		`.SH "EXIT STATUS"`, "2 malformed input",
		`.SH "FILES"`, "/etc/xlpt/devices.conf", "xlpt\\-restore.service", "/var/lib/xlpt",
		`.SH "SEE ALSO"`, "xlpt\\-migrate(1)", "README.md.gz", "json.md", "schema/xlpt\\-1.json",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}

// Every text of internal/help is a visible command's (a command's
// Description that names no text panics at start-up).
func TestEveryHelpTextIsACommands(t *testing.T) {
	have := map[string]bool{"": true}
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			name := strings.TrimSpace(parent + " " + c.Name)
			have[name] = true
			walk(name, c.Subcommands)
		}
	}
	walk("", newApp().Commands)
	for _, n := range help.Commands() {
		if !have[n] {
			t.Errorf("internal/help has a text for %q, which is no command", n)
		}
	}
}
