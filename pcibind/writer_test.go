package pcibind

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWritesStayBeneathTheRoot(t *testing.T) {
	if fd, err := unix.Openat2(unix.AT_FDCWD, ".", &unix.OpenHow{Flags: unix.O_PATH}); errors.Is(err, unix.ENOSYS) {
		t.Skip("no openat2 on this kernel: writes fall back to the lexical check")
	} else if err == nil {
		unix.Close(fd)
	}
	root, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	for _, f := range []string{victim, filepath.Join(root, "attr")} {
		if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "bus/pci/drivers/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link out of the tree where an attribute should be, and one that
	// climbs out relatively.
	if err := os.Symlink(victim, filepath.Join(root, "bus/pci/drivers/x/bind")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../"+filepath.Base(outside)+"/victim", filepath.Join(root, "bus/pci/drivers/x/unbind")); err != nil {
		t.Fatal(err)
	}
	s := New(root)
	if err := s.writeAttr("attr", "new"); err != nil {
		t.Fatalf("write beneath the root: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "attr")); string(b) != "new" {
		t.Errorf("attr = %q", b)
	}
	for _, rel := range []string{"bus/pci/drivers/x/bind", "bus/pci/drivers/x/unbind", "../" + filepath.Base(outside) + "/victim"} {
		if err := s.writeAttr(rel, "evil"); err == nil {
			t.Errorf("write to %s escaped the root", rel)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "old" {
		t.Errorf("a file outside the root was written: %q", b)
	}
}
