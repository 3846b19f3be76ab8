package help

import (
	"slices"
	"strings"
	"testing"
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
