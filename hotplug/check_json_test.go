package hotplug

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// appendDevice writes encoding/json's bytes for every field of
// DeviceReport: each filled in (so a field added to DeviceReport and not
// to the encoder fails here), each empty, nil and non-nil, with strings
// that encoding/json escapes.
func TestAppendCheckDeviceIsEncodingJSON(t *testing.T) {
	var devs []DeviceReport
	// one string for each escape, so none hides another
	for _, s := range []string{"plain", "a<b", "a>b", "a&b", `a"b`, `a\b`, "a\nb", "a\x1fb", "a\x7fb", "é",
		"\u2028", "\u2029", "\xff\xfe", "\xc3"} {
		var d DeviceReport
		fill(reflect.ValueOf(&d).Elem(), s)
		devs = append(devs, d)
		d.sysfsName = "10000:00:00.0" + s
		devs = append(devs, d)
	}
	pf := xl.PciBdf{Bus: 3}
	devs = append(devs,
		DeviceReport{},
		DeviceReport{ResetMethods: []string{}, Reasons: []string{}, Group: []xl.PciBdf{}, Unread: []string{},
			SRIOV: &SRIOVRole{}},
		DeviceReport{SRIOV: &SRIOVRole{Role: "vf", PF: &pf}, NUMANode: -1},
		DeviceReport{SRIOV: &SRIOVRole{Role: "pf", Total: 64, Num: 8}})
	for i := range devs {
		want, err := json.MarshalIndent(devs[i], "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDevice(nil, &devs[i]); string(got) != string(want) {
			t.Errorf("device %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// fill sets every exported field reachable from v to something other
// than its zero value; strings get s. A kind it does not know panics, so
// that a new field's kind is taught rather than left zero.
func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(0xab)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), s)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), s)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), s)
			}
		}
	default:
		panic("fill: teach me " + v.Kind().String())
	}
}

// checkIDs is the Sprintf it replaced, for any IDs.
func TestCheckIDsIsSprintf(t *testing.T) {
	for _, d := range []pcibind.Device{{}, {Vendor: 0x8086, Device: 0x1889, Class: 0x020000}, {Vendor: 0xffff, Device: 0xf, Class: 0x1ffffff}} {
		v, dv, c := checkIDs(&d)
		if v != fmt.Sprintf("%04x", d.Vendor) || dv != fmt.Sprintf("%04x", d.Device) || c != fmt.Sprintf("%06x", d.Class) {
			t.Errorf("%x %x %x: %q %q %q", d.Vendor, d.Device, d.Class, v, dv, c)
		}
	}
}

// WriteReportJSON writes what encoding/json writes, byte for byte, around
// the report and in it.
func TestWriteReportJSONIsEncodingJSON(t *testing.T) {
	type doc struct {
		Schema string `json:"schema"`
		CheckReport
	}
	same := func(d *doc) {
		t.Helper()
		want, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		devs := d.Devices
		d.Devices = []DeviceReport{}
		var got bytes.Buffer
		if err := WriteReportJSON(&got, d, devs); err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want)+"\n" {
			t.Fatalf("WriteReportJSON differs from encoding/json (%d vs %d bytes)", got.Len(), len(want)+1)
		}
	}
	for _, topo := range []pcitest.Topology{pcitest.Sample(), pcitest.Wide(200)} {
		tr, err := pcitest.Generate(pcitest.TempDir(t), topo)
		if err != nil {
			t.Fatal(err)
		}
		sys := pcibind.New(tr.Root)
		host, err := sys.Scan()
		if err != nil {
			t.Fatal(err)
		}
		s := &Service{sysfs: sys, host: host}
		for _, useErr := range []error{nil, errors.New(`no /proc/mounts <&>`)} {
			rep := s.checkHost(nil, nil, nil, useErr)
			if len(rep.Devices) != len(host.Devices) {
				t.Fatalf("%d devices judged of %d", len(rep.Devices), len(host.Devices))
			}
			// What only some reports have: a named device missing, an
			// open intent record, an unknown bus and NUMA node.
			rep.Devices = append(rep.Devices, s.checkHost([]xl.PciBdf{{Bus: 0x7f}}, nil, nil, nil).Devices...)
			rep.Devices[0].OpenOperation = &OpenOperation{Op: "hide", PID: 42, Time: "2026-01-02T03:04:05Z", Command: "xlpt <x>", Text: "make it assignable"}
			rep.Devices[1].Bus, rep.Devices[1].NUMANode = "", -1
			rep.Summary = Summarize(rep.Devices)
			same(&doc{Schema: "xlpt/1", CheckReport: rep})
		}
	}
	same(&doc{CheckReport: CheckReport{Devices: []DeviceReport{}}})
}
