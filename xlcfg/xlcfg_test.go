package xlcfg

import (
	"errors"
	"strings"
	"testing"
)

func TestLastByteQuirkWarns(t *testing.T) {
	f, err := Parse("memory = 512\npci = [ '01:00.0' ] )")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], `last character ")"`) {
		t.Errorf("warnings %q", f.Warnings)
	}
}

func TestErrorsNameTheLineAndCause(t *testing.T) {
	for src, want := range map[string]string{
		"name = 'x'\nMemory = 512\n":      "line 2: unexpected \"Memory\" (setting names are lower case)",
		"a = 1\r\nb = 2\r\n":              "DOS line endings",
		"pci = [ '01:00.0' '02:00.0' ]\n": "expected ',' or ']'",
		"a = 1\n# trailing comment":       "comment must end with a newline",
		"a = \"\\x41\"\n":                 `\x escapes are broken`,
	} {
		_, err := Parse(src)
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want it to mention %q", src, err, want)
		}
	}
}

func TestAccessors(t *testing.T) {
	f, err := Parse("memory = 0x200\nmaxmem = 1024\npci = [ '01:00.0' ]\npci += [ '02:00.0' ]\nextra = 'a'\nextra += 'b'\nn = 5\nn += 6\n")
	if err != nil {
		t.Fatal(err)
	}
	if m, ok, err := f.Long("memory"); !ok || err != nil || m != 512 {
		t.Errorf("memory %d %v %v", m, ok, err)
	}
	if l, _, err := f.StringList("pci"); err != nil || strings.Join(l, " ") != "01:00.0 02:00.0" {
		t.Errorf("pci %q %v", l, err)
	}
	if s, _ := f.String("extra"); s != "ab" {
		t.Errorf("extra %q", s)
	}
	if _, _, err := f.Long("n"); err == nil || !strings.Contains(err.Error(), "+=") {
		t.Errorf("n with += read as a number: %v", err)
	}
	if _, _, err := f.StringList("memory"); err == nil {
		t.Error("memory read as a list")
	}
}
