//go:build linux && cgo

package xlcfg_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/internal/xlu"
	"github.com/xlpt/xlpt/xlcfg"
)

func toXlu(v xlcfg.Value) xlu.Value {
	out := xlu.Value{IsList: v.IsList, Str: v.Str}
	if v.IsList {
		out.List = []xlu.Value{}
		for _, e := range v.List {
			out.List = append(out.List, toXlu(e))
		}
	}
	return out
}

var probeNames = []string{"a", "b", "c", "pci", "name", "memory", "a.b", "rdm"}

// compare parses src with xlpt and with libxlutil and reports differences.
func compare(t testing.TB, src string) (accepted bool) {
	f, err := xlcfg.Parse(src)
	c := xlu.ReadData(src)
	defer c.Close()
	if (err == nil) != (c.RC == 0) {
		t.Errorf("%q: libxlutil rc=%d (%q), xlpt err=%v", src, c.RC, c.Message, err)
		return false
	}
	if err != nil {
		return false
	}
	names := append([]string{}, probeNames...)
	for _, s := range f.Settings {
		names = append(names, s.Name)
	}
	for _, n := range names {
		want, wok := c.Get(n)
		got, gok := f.Get(n)
		if wok != gok || (wok && !reflect.DeepEqual(toXlu(got), want)) {
			t.Errorf("%q: %s: libxlutil %v (%v), xlpt %v (%v)", src, n, want, wok, got, gok)
		}
	}
	return true
}

func corpus(t testing.TB) []string {
	var out []string
	files, _ := filepath.Glob("testdata/*.cfg")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	snippets := []string{"", "\n", "a = 1\n", "a = 1", "A = 1\n", "a.b = 1\n", "_a = 1\n", "a_b2 = 0x1f\n",
		"a = 0x1F\n", "a = 12abc\n", "a = 1.5\n", "a = -1\n", "a = 'x'\n", `a = "x\ty"` + "\n", `a = "x\"y"` + "\n",
		`a = "x\101y"` + "\n", `a = "x\1 5y"` + "\n", `a = "\12"` + "\n", `a = "x\x41y"` + "\n", `a = 'x\'` + "\n", `a = 'x\\'` + "\n",
		`a = 'x\q'` + "\n", "a = 'x#y' # c\n", "a = [1, 'b', [2, 3], ]\n", "a = [\n 'x',\n 'y'\n]\n", "a = []\n",
		"a = [,]\n", "a = [\n]\n", "a = 1; b = 2\n", "a = 1;;\n", ";\n", "a = 'x'\na += 'y'\n", "a = ['x']\na += ['y']\n",
		"a = ['x']\na += 'y'\n", "a += 'z'\n", "a = 1\na = 2\n", "a = \"\"\n", "\ta\t=\t1\t\n", "a = 1\r\n",
		"# only comment", "# comment\n", "a = 1 # c", "a = 1 # c\n", "a =\n 1\n", "a = [ 'x'\n , 'y' ]\n",
		"a = [ 'x' # first\n, 'y' # second\n]\n", "def f():\n", "a = 'é'\n", "a = 9999999999999999999999\n",
		"a = 'x' 'y'\n", "a 1\n", "= 1\n", "a = ]\n", "a = [[[]]]\n", "a = [1 2]\n", "a += [1]\nb = 2\na += [3]\n",
		"a = 1\nb = [\n", "a=1\n", "a+=1\n", "a + = 1\n", "pci = [ '01:00.0', '02:00.0@7,permissive=1' ]\n",
		"a = 'x' ; b = 'y' ; c = [ 'z' ]\n", "a = \"x\\n\\t\\a\\b\\f\\r\\v\"\n", "a = 0x\n", "a = 0xg\n", "a = 07\n",
		// An illegal last byte is dropped by xlu's lexer; one byte earlier it is an error.
		"A", "A ", "a = 1 A", "a = 1 AB", "#", "# c", "+", "a = 1\n'", "a = 1\n\"x", "a = 1\r", "a = 1\n-",
	}
	return append(out, snippets...)
}

func TestReaderMatchesLibxlutil(t *testing.T) {
	ok, bad := 0, 0
	for _, src := range corpus(t) {
		if compare(t, src) {
			ok++
		} else {
			bad++
		}
	}
	t.Logf("differential test against xlu_cfg_readdata: %d accepted, %d rejected", ok, bad)
	if ok < 20 || bad < 20 {
		t.Errorf("corpus too lopsided: %d accepted, %d rejected", ok, bad)
	}
}

func FuzzReaderMatchesLibxlutil(f *testing.F) {
	for _, src := range corpus(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if strings.IndexByte(src, 0) >= 0 || len(src) > 4096 {
			return // xlu_cfg_readdata is given a length, but xl reads files as C strings
		}
		compare(t, src)
	})
}
