package help

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestOf(t *testing.T) {
	if s := Of("rdm check"); !strings.HasPrefix(s, "Computes the guest's memory layout") || strings.HasSuffix(s, "\n") {
		t.Errorf("rdm check: %q", s)
	}
	if s := Of(""); !strings.HasPrefix(s, "xlpt does what xl's pci-* commands do") {
		t.Errorf("xlpt: %q", s)
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a command without a text")
		}
	}()
	Of("nosuch")
}

// Each text is one file ending in one newline, and Commands names it.
func TestCommands(t *testing.T) {
	names := Commands()
	for _, want := range []string{"", "pci-attach", "rdm", "rdm check", "cfg add-pci"} {
		if !slices.Contains(names, want) {
			t.Errorf("Commands %q lacks %q", names, want)
		}
	}
	for _, n := range names {
		b, err := texts.ReadFile(file(n))
		if err != nil || !strings.HasSuffix(string(b), "\n") || strings.HasSuffix(string(b), "\n\n") || strings.TrimSpace(string(b)) == "" {
			t.Errorf("%s: %v, or not one newline at its end", file(n), err)
		}
	}
}

// The man page's closing sections are in order, the files one an item.
func TestMan(t *testing.T) {
	s := Man()
	if len(s) != 3 || s[0].Title != "Exit status" || s[1].Title != "Files" || s[2].Title != "See also" {
		t.Fatalf("sections %+v", s)
	}
	if !strings.HasPrefix(s[0].Text, "As xl's: 0 done.") || !strings.Contains(s[2].Text, "xl.cfg(5)") {
		t.Errorf("texts %q %q", s[0].Text, s[2].Text)
	}
	for _, it := range s[1].Items {
		if !strings.HasPrefix(it[0], "/") || it[1] == "" || strings.Contains(it[0]+it[1], "\t") {
			t.Errorf("file item %q", it)
		}
	}
	if len(s[1].Items) != 5 || s[1].Items[0][0] != "/etc/xlpt/xlpt.conf" {
		t.Errorf("files %q", s[1].Items)
	}
	if b := BashHelpers(); !strings.HasPrefix(b, "_xlpt_domains()") || !strings.HasSuffix(b, "}") {
		t.Errorf("bash helpers %q", b)
	}
}

// A flag's line leaves out a default that says nothing or that its
// usage gives, and keeps a real one.
func TestFlagString(t *testing.T) {
	for _, c := range []struct {
		f    cli.Flag
		want string
	}{
		{&cli.BoolFlag{Name: "force", Usage: "Force"}, "--force\tForce"},
		{&cli.Uint64Flag{Name: "mmio-hole", Usage: "in MiB (0: libxl's 256)"}, "--mmio-hole value\tin MiB (0: libxl's 256)"},
		{&cli.Uint64Flag{Name: "maxmem", Value: 7, Usage: "in MiB (default: memory)"}, "--maxmem value\tin MiB (default: memory)"},
		{&cli.Uint64Flag{Name: "boundary", Value: 2048, Usage: "in MiB"}, "--boundary value\tin MiB (default: 2048)"},
		{&cli.BoolFlag{Name: "hap", Value: true, Usage: "hap="}, "--hap\thap= (default: true)"},
	} {
		if got := FlagString(c.f); got != c.want {
			t.Errorf("FlagString = %q, want %q", got, c.want)
		}
	}
}
