package xlcfg

import (
	"os"
	"path/filepath"
	"strings"
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
