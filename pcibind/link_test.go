package pcibind

import (
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// resolveDeviceLink and parentsFromPath cut the kernel's links by hand;
// they agree with joining and cleaning, and with splitting, on any link.
func TestDeviceLinkByHand(t *testing.T) {
	for _, tgt := range []string{
		"../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0",
		"../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0/0000:03:01.0/0000:04:00.3",
		"../../../devices/pci0000:00/./0000:00:01.0//0000:01:00.0/",
		"../../../devices/../devices/pci0000:00/0000:00:01.0",
		"../../../../devices/pci0000:00/0000:00:02.0",
		"../../devices/pci0000:00/0000:00:02.0",
		"../../../devicesX/pci0000:00/0000:00:02.0",
		"/root/devices/pci0000:00/0000:00:02.0",
		"/elsewhere/devices/pci0000:00/0000:00:02.0",
		"0000:00:02.0",
	} {
		ref := tgt
		if !path.IsAbs(ref) {
			ref = path.Join("bus/pci/devices", ref)
		} else if rel, ok := strings.CutPrefix(ref, "/root/"); ok {
			ref = rel
		}
		ref = strings.TrimPrefix(path.Clean("/"+ref), "/")
		got := resolveDeviceLink(tgt, "/root")
		if got != ref {
			t.Errorf("%s: %q, want %q", tgt, got, ref)
		}
		var parents []xl.PciBdf
		parts := strings.Split(got, "/")
		for i := len(parts) - 2; i >= 0; i-- {
			if b, err := ParseSysfsBdf(parts[i]); err == nil {
				parents = append(parents, b)
			}
		}
		if p := parentsFromPath(got); !reflect.DeepEqual(p, parents) {
			t.Errorf("%s: parents %v, want %v", got, p, parents)
		}
	}
}

// readInt's quick road gives what strconv.Atoi gives.
func TestParseDecimal(t *testing.T) {
	for _, s := range []string{"0\n", "-1\n", "64", "007\n", "123456789\n", "1234567890\n", "+5\n", "-\n", "", "\n", " 5\n", "5 \n", "1a\n", "-0\n"} {
		want, err := strconv.Atoi(strings.TrimSpace(s))
		if got, ok := parseDecimal([]byte(s)); ok && (err != nil || got != want) {
			t.Errorf("%q: %d, want %d (%v)", s, got, want, err)
		}
	}
}

// parseSysfsBdf is the strconv.ParseUint parser it replaced.
func TestParseSysfsBdfIsParseUint(t *testing.T) {
	ref := func(s string) (xl.PciBdf, bool) {
		if len(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.' {
			return xl.PciBdf{}, false
		}
		d, err1 := strconv.ParseUint(s[0:4], 16, 16)
		b, err2 := strconv.ParseUint(s[5:7], 16, 8)
		v, err3 := strconv.ParseUint(s[8:10], 16, 8)
		f, err4 := strconv.ParseUint(s[11:12], 16, 8)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || v > 0x1f || f > 7 {
			return xl.PciBdf{}, false
		}
		return xl.PciBdf{Domain: uint16(d), Bus: uint8(b), Dev: uint8(v), Func: uint8(f)}, true
	}
	for _, s := range []string{"0000:00:00.0", "ffff:ff:1f.7", "FFFF:AB:1F.7", "0000:00:20.0", "0000:00:00.8",
		"000g:00:00.0", "0000:0x:00.0", "+000:00:00.0", "0000:00:00.0 ", "pci0000:00", "0000:00:00:0", "0000:00:-1.0"} {
		gb, gok := parseSysfsBdf(s)
		wb, wok := ref(s)
		if gb != wb || gok != wok {
			t.Errorf("%q: %v %v, want %v %v", s, gb, gok, wb, wok)
		}
	}
}
