package pcibind

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// parseResourceRef is the straightforward parser parseResource replaced.
func parseResourceRef(b []byte) ([]BAR, bool) {
	var bars []BAR
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return bars, false
		}
		var v [3]uint64
		for j := range f {
			x, err := strconv.ParseUint(strings.TrimPrefix(f[j], "0x"), 16, 64)
			if err != nil {
				return bars, false
			}
			v[j] = x
		}
		if v[0] == 0 && v[1] == 0 {
			continue
		}
		bars = append(bars, BAR{Index: i, Start: v[0], End: v[1], Flags: v[2]})
	}
	return bars, true
}

func FuzzParseResource(f *testing.F) {
	f.Add([]byte("0x00000000fe000000 0x00000000fe7fffff 0x0000000000040200\n0x0000000000000000 0x0000000000000000 0x0000000000000000\n"))
	f.Add([]byte("0x1 0x2 0x3\n\n0x4 0x5\n"))
	f.Add([]byte("0x1 0x2 0x3 0x4\n"))
	f.Add([]byte("0xg 0x2 0x3\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range b {
			if c >= 0x80 {
				return // sysfs is ASCII; strings.Fields knows Unicode spaces
			}
		}
		got, err := parseResource(b)
		want, ok := parseResourceRef(b)
		if (err == nil) != ok {
			if ok || !strings.Contains(string(b), "0X") {
				t.Fatalf("%q: error %v, reference ok=%v", b, err, ok)
			}
			return
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v, want %+v", b, got, want)
		}
	})
}

// BenchmarkParseResource is one function's resource file, as the kernel
// writes it (a full scan parses thousands).
func BenchmarkParseResource(b *testing.B) {
	res := []byte("0x00000000fe000000 0x00000000fe7fffff 0x0000000000040200\n" +
		strings.Repeat("0x0000000000000000 0x0000000000000000 0x0000000000000000\n", 16))
	for i := 0; i < b.N; i++ {
		parseResource(res)
	}
}
