package pcitest

import (
	"os"
	"testing"
)

// Sample is a small topology with one of everything; tests across the
// module use it.
func TestGenerateSmoke(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("XLPT_KEEP"); d != "" {
		dir = d
	}
	tr, err := Generate(dir, Sample())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d functions in %s", len(tr.Funcs), dir)
}
