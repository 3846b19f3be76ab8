package xlcfg

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWithStringListKeepsEverythingElse(t *testing.T) {
	src := "# web01\nname = \"web01\"   # the name\npci = [ '0000:03:00.0@6',\n        '0000:04:00.0@7' ]  # NICs\nmemory = 2048\n"
	f, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.WithStringList("pci", []string{"0000:03:00.0@6", "0000:04:00.0@7", "0000:05:00.0"})
	if err != nil {
		t.Fatal(err)
	}
	s := f.Settings[1]
	if !strings.HasPrefix(out, src[:s.ValStart]) || !strings.HasSuffix(out, src[s.ValEnd:]) {
		t.Errorf("text outside the value changed:\n%s", out)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, _, _ := back.StringList("pci")
	if strings.Join(got, " ") != "0000:03:00.0@6 0000:04:00.0@7 0000:05:00.0" {
		t.Errorf("pci %q", got)
	}
	if !strings.Contains(out, ",\n") {
		t.Errorf("a multi-line list became one line:\n%s", out)
	}
}

func TestWithStringListAppendsAndRefusesPlusEquals(t *testing.T) {
	f, _ := Parse("memory = 256")
	out, err := f.WithStringList("pci", []string{"01:00.0"})
	if err != nil || out != "memory = 256\npci = [ '01:00.0' ]\n" {
		t.Errorf("%q, %v", out, err)
	}
	f, _ = Parse("pci = [ '01:00.0' ]\npci += [ '02:00.0' ]\n")
	if _, err := f.WithStringList("pci", nil); err == nil || !strings.Contains(err.Error(), "+=") {
		t.Errorf("+= list rewritten: %v", err)
	}
}

func TestWriteListIsAtomicAndChecked(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "g.cfg")
	os.WriteFile(p, []byte("name = 'g'\npci = [ ]\n"), 0o640)
	if err := WriteList(p, "pci", []string{"01:00.0", "it's"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f, err := Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if l, _, _ := f.StringList("pci"); len(l) != 2 || l[1] != "it's" {
		t.Errorf("read back %q from %q", l, b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	// A file xl would refuse is never rewritten.
	os.WriteFile(p, []byte("Name = 'g'\n"), 0o640)
	if err := WriteList(p, "pci", []string{"01:00.0"}); err == nil {
		t.Error("rewrote a file that does not parse")
	}
	if b, _ := os.ReadFile(p); string(b) != "Name = 'g'\n" {
		t.Errorf("file changed: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

// /etc/xen/auto/ holds symlinks to the real configs: the edit goes to the
// target, the link stays a link, and the target keeps its owner, group and
// mode.
func TestWriteListFollowsSymlinkKeepsOwner(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "g.cfg")
	os.WriteFile(real, []byte("name = 'g'\npci = [ ]\n"), 0o600)
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		// root can give the file away: show that it stays given away
		uid, gid = 1234, 5678
		if err := os.Chown(real, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	auto := filepath.Join(t.TempDir(), "g.cfg")
	if err := os.Symlink(real, auto); err != nil {
		t.Fatal(err)
	}
	if err := WriteList(auto, "pci", []string{"01:00.0"}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Lstat(auto); err != nil || l.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", l.Mode(), err)
	}
	b, _ := os.ReadFile(real)
	if !strings.Contains(string(b), "'01:00.0'") {
		t.Errorf("the target was not edited: %q", b)
	}
	st, _ := os.Stat(real)
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o600 || int(sys.Uid) != uid || int(sys.Gid) != gid {
		t.Errorf("target now %v %d:%d, want 0600 %d:%d", st.Mode().Perm(), sys.Uid, sys.Gid, uid, gid)
	}
}
