package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplacesWholeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rec.json")
	for _, body := range []string{"first", "second"} {
		if err := WriteFile(p, []byte(body), true); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != body {
			t.Errorf("content %q; want %q", b, body)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left %d entries; want only the file", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, true); err == nil {
		t.Error("wrote into a directory that does not exist")
	}
}
