package rdm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

func TestParseXenRMRR(t *testing.T) {
	d := func(s string) xl.PciBdf {
		var b xl.PciBdf
		// Test helper only: "SSSS:BB:DD.F".
		var seg, bus, dev, fn uint64
		seg, _ = strtoul(s[0:4], 16)
		bus, _ = strtoul(s[5:7], 16)
		dev, _ = strtoul(s[8:10], 16)
		fn, _ = strtoul(s[11:], 16)
		b.Domain, b.Bus, b.Dev, b.Func = uint16(seg), uint8(bus), uint8(dev), uint8(fn)
		return b
	}
	devs := func(l ...string) []xl.PciBdf {
		out := make([]xl.PciBdf, len(l))
		for i, s := range l {
			out[i] = d(s)
		}
		return out
	}
	twenty := make([]string, 20)
	for i := range twenty {
		twenty[i] = "00:01." + string(rune('0'+i%8))
	}
	eleven := strings.Repeat("1=00:01.0;", 10) + "2=00:02.0"

	cases := []struct {
		in      string
		want    []UserRMRR
		err     bool
		problem []string // substring of each range's Problem ("" none)
	}{
		// The testbed's option, from NOTES.md.
		{in: "0xf0-0xff=0000:00:03.0;0x7ffdf=0000:00:07.0,0000:00:08.0", want: []UserRMRR{
			{StartPFN: 0xf0, EndPFN: 0xff, Devices: devs("0000:00:03.0")},
			{StartPFN: 0x7ffdf, EndPFN: 0x7ffdf, Devices: devs("0000:00:07.0", "0000:00:08.0")},
		}},
		{in: "f0-ff=00:03.0", want: []UserRMRR{{StartPFN: 0xf0, EndPFN: 0xff, Devices: devs("0000:00:03.0")}}},
		// A device without a segment takes the first device's.
		{in: "1=0001:02:03.4,05:06.7", want: []UserRMRR{{StartPFN: 1, EndPFN: 1, Devices: devs("0001:02:03.4", "0001:05:06.7")}}},
		{in: "1=0001:02:03.4,0002:05:06.7", want: []UserRMRR{{StartPFN: 1, EndPFN: 1, Devices: devs("0001:02:03.4", "0002:05:06.7")}}, problem: []string{"segments are not equal"}},
		{in: "10-5=00:01.0", want: []UserRMRR{{StartPFN: 0x10, EndPFN: 5, Devices: devs("0000:00:01.0")}}, problem: []string{"invalid range"}},
		// end-start must stay below 16: 0-f is 16 pages and fine, 0-10 is 17.
		{in: "0-f=00:01.0", want: []UserRMRR{{StartPFN: 0, EndPFN: 0xf, Devices: devs("0000:00:01.0")}}},
		{in: "0-10=00:01.0", want: []UserRMRR{{StartPFN: 0, EndPFN: 0x10, Devices: devs("0000:00:01.0")}}, problem: []string{"exceeds 16 pages"}},
		// A range without devices parses and is dropped.
		{in: "0xf0", want: nil},
		{in: "0xf0-0xff;7=00:07.0", want: []UserRMRR{{StartPFN: 7, EndPFN: 7, Devices: devs("0000:00:07.0")}}},
		// Xen reads an empty segment/bus as 0: "=:03.0" is 00:03.0.
		{in: "f0=:03.0", want: []UserRMRR{{StartPFN: 0xf0, EndPFN: 0xf0, Devices: devs("0000:00:03.0")}}},
		// The function is a C integer: 0x7 is 7.
		{in: "f0=00:03.0x7", want: []UserRMRR{{StartPFN: 0xf0, EndPFN: 0xf0, Devices: devs("0000:00:03.7")}}},
		// "08" is octal 0 followed by a stray 8: the range is kept, the rest is an error.
		{in: "f0=00:03.08", want: []UserRMRR{{StartPFN: 0xf0, EndPFN: 0xf0, Devices: devs("0000:00:03.0")}}, err: true},
		{in: "f0=00:03.0;", want: []UserRMRR{{StartPFN: 0xf0, EndPFN: 0xf0, Devices: devs("0000:00:03.0")}}, err: true},
		{in: "f0=00:03", err: true},
		{in: "f0=00:20.0", err: true},
		{in: "f0=100:00.0", err: true},
		{in: "f0=10000:00:00.0", err: true},
		{in: "f0=00:00.8", err: true},
		{in: "", err: true},
		{in: "x", err: true},
		{in: "f0-=00:00.0", err: true},
		{in: "f0=00:01.0,", err: true},
		// 20 devices are the limit; a 21st is an error after the range is kept.
		{in: "1=" + strings.Join(twenty, ","), want: []UserRMRR{{StartPFN: 1, EndPFN: 1, Devices: devsOf(twenty)}}},
		{in: "1=" + strings.Join(twenty, ",") + ",00:02.0", want: []UserRMRR{{StartPFN: 1, EndPFN: 1, Devices: devsOf(twenty)}}, err: true},
	}
	for _, c := range cases {
		got, err := ParseXenRMRR(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err = %v, want error %v", c.in, err, c.err)
		}
		var problems []string
		for i := range got {
			problems = append(problems, got[i].Problem)
			got[i].Problem = ""
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
		for i := range problems {
			want := ""
			if i < len(c.problem) {
				want = c.problem[i]
			}
			if (want == "") != (problems[i] == "") || !strings.Contains(problems[i], want) {
				t.Errorf("%q range %d: problem %q, want %q", c.in, i, problems[i], want)
			}
		}
		var re *RMRRError
		if err != nil && (!errors.As(err, &re) || len(re.Ranges) != len(got)) {
			t.Errorf("%q: error %v does not carry the kept ranges", c.in, err)
		}
	}

	got, err := ParseXenRMRR(eleven)
	if err == nil || len(got) != MaxUserRMRR || !strings.Contains(err.Error(), "E2BIG") {
		t.Errorf("11 ranges: %d ranges, err %v", len(got), err)
	}
}

func devsOf(l []string) []xl.PciBdf {
	out := make([]xl.PciBdf, len(l))
	for i, s := range l {
		fn, _ := strtoul(s[6:], 16)
		out[i] = xl.PciBdf{Bus: 0, Dev: 1, Func: uint8(fn)}
	}
	return out
}

func TestRMRRFromCmdline(t *testing.T) {
	c := RMRRFromCmdline("placeholder dom0_mem=1024M,max:1024M rmrr=0xf0-0xff=0000:00:03.0 iommu=verbose  rmrr=7ffdf=00:07.0,00:08.0 rmrrx=1=00:01.0")
	if !reflect.DeepEqual(c.Values, []string{"0xf0-0xff=0000:00:03.0", "7ffdf=00:07.0,00:08.0"}) {
		t.Errorf("values %q", c.Values)
	}
	if len(c.Errors) != 0 {
		t.Errorf("errors %v", c.Errors)
	}
	regs := c.Regions()
	want := []Region{
		{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{{Dev: 3}}, Sources: []Source{SourceCmdline}},
		{StartPFN: 0x7ffdf, NrPages: 1, Devices: []xl.PciBdf{{Dev: 7}, {Dev: 8}}, Sources: []Source{SourceCmdline}},
	}
	if !reflect.DeepEqual(regs, want) {
		t.Errorf("regions\n got %+v\nwant %+v", regs, want)
	}

	// The range count is global across occurrences.
	many := "rmrr=" + strings.TrimSuffix(strings.Repeat("1=0:1.0;", 6), ";") + " rmrr=" + strings.TrimSuffix(strings.Repeat("2=0:2.0;", 6), ";")
	c = RMRRFromCmdline(many)
	if len(c.Ranges) != MaxUserRMRR || len(c.Errors) != 1 {
		t.Errorf("two occurrences of 6: %d ranges, errors %v", len(c.Ranges), c.Errors)
	}

	// Xen copies at most 127 bytes of an option.
	long := "rmrr=1=" + strings.TrimSuffix(strings.Repeat("0000:00:01.0,", 12), ",")
	c = RMRRFromCmdline(long)
	if len(long) <= 127 || len(c.Errors) == 0 || !strings.Contains(c.Errors[0].Error(), "127") {
		t.Errorf("long option (%d bytes): %v", len(long), c.Errors)
	}
	// 7 bytes of "rmrr=1=" leave 120: nine "0000:00:01.0," (117 bytes) and
	// "000", which is not a device, so Xen rejects the whole range.
	if len(c.Ranges) != 0 || len(c.Errors) != 2 {
		t.Errorf("long option: ranges %+v, errors %v", c.Ranges, c.Errors)
	}
}

func FuzzParseXenRMRR(f *testing.F) {
	for _, s := range []string{"0xf0-0xff=0000:00:03.0;0x7ffdf=0000:00:07.0,0000:00:08.0", "f0=00:03.08", "1=0001:02:03.4,05:06.7", "0x=", ";;", "0-fffffffffffffffff=0:0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseXenRMRR(s)
		if len(r) > MaxUserRMRR {
			t.Fatalf("%d ranges", len(r))
		}
		for _, u := range r {
			if len(u.Devices) == 0 || len(u.Devices) > MaxUserRMRRDev {
				t.Fatalf("range with %d devices", len(u.Devices))
			}
			for _, d := range u.Devices {
				if d.Dev > 0x1f || d.Func > 7 {
					t.Fatalf("device %v out of range", d)
				}
			}
			_ = u.Region()
		}
		var re *RMRRError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("error type %T", err)
		}
	})
}
