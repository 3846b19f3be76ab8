package pcibind

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 25: the lock file is opened without following a symlink planted
// in its place (root truncates it), and the state directory is checked.
func TestLockDoesNotFollowAPlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(dir)
	if err == nil {
		unlock()
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the lock wrote through the symlink: victim holds %q", b)
	}
	if err == nil || !errors.Is(err, ErrUnsafeStateDir) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Lock through a symlink: %v; want a refusal naming it", err)
	}
}

func TestLockRefusesAnUnsafeStateDir(t *testing.T) {
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{open: "chmod go-w", "relative/state": "absolute path"} {
		unlock, err := Lock(dir)
		if err == nil {
			unlock()
		}
		if !errors.Is(err, ErrUnsafeStateDir) || !strings.Contains(err.Error(), want) {
			t.Errorf("Lock(%s): %v; want a refusal saying %q", dir, err, want)
		}
	}
	if _, err := os.Stat("relative"); err == nil {
		os.RemoveAll("relative")
		t.Error("Lock created a relative state directory")
	}
}
