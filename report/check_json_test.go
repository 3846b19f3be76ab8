package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// appendDevice writes encoding/json's bytes for every field of
// DeviceReport: each filled in (so a field added to DeviceReport and not
// to the encoder fails here), each empty, nil and non-nil, with strings
// that encoding/json escapes, for a function xl.PciBdf can hold and one
// in a segment above ffff (named by its sysfs name).
func TestAppendCheckDeviceIsEncodingJSON(t *testing.T) {
	vmd := sysfsNamed(t)
	var devs []hotplug.DeviceReport
	// one string for each escape, so none hides another
	for _, s := range []string{"plain", "a<b", "a>b", "a&b", `a"b`, `a\b`, "a\nb", "a\x1fb", "a\x7fb", "é",
		"\u2028", "\u2029", "\xff\xfe", "\xc3"} {
		var d hotplug.DeviceReport
		fill(reflect.ValueOf(&d).Elem(), s)
		devs = append(devs, d)
		d = vmd
		fill(reflect.ValueOf(&d).Elem(), s)
		devs = append(devs, d)
	}
	pf := xl.PciBdf{Bus: 3}
	devs = append(devs,
		hotplug.DeviceReport{}, vmd,
		hotplug.DeviceReport{ResetMethods: []string{}, Reasons: []string{}, Group: []xl.PciBdf{}, Unread: []string{},
			SRIOV: &hotplug.SRIOVRole{}},
		hotplug.DeviceReport{SRIOV: &hotplug.SRIOVRole{Role: "vf", PF: &pf}, NUMANode: -1},
		hotplug.DeviceReport{SRIOV: &hotplug.SRIOVRole{Role: "pf", Total: 64, Num: 8}})
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

// sysfsNamed is check's report on a function in a PCI segment above
// ffff (Intel VMD), which only its sysfs name can name.
func sysfsNamed(t *testing.T) hotplug.DeviceReport {
	t.Helper()
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	vmd := filepath.Join(tr.Root, "devices/pci10000:00/10000:00:00.0")
	os.MkdirAll(vmd, 0o755)
	if err := os.Symlink(vmd, filepath.Join(tr.Root, "bus/pci/devices/10000:00:00.0")); err != nil {
		t.Fatal(err)
	}
	rep, err := hotplug.New(hotplug.Env{Sysfs: pcibind.New(tr.Root)}).Check(hotplug.CheckRequest{NoLibxl: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Devices {
		if d.SysfsName() == "10000:00:00.0" {
			return d
		}
	}
	t.Fatal("check does not report the function above ffff")
	return hotplug.DeviceReport{}
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

// writeCheckJSON writes what encoding/json writes, byte for byte,
// around the report and in it: full scans of two hosts, with and without
// the /proc that the rules read, and what only some reports have.
func TestWriteCheckJSONIsEncodingJSON(t *testing.T) {
	type doc struct {
		Schema string `json:"schema"`
		hotplug.CheckReport
	}
	same := func(d *doc) {
		t.Helper()
		want, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		devs := d.Devices
		d.Devices = []hotplug.DeviceReport{}
		var got bytes.Buffer
		if err := writeCheckJSON(&got, d, devs); err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want)+"\n" {
			t.Fatalf("writeCheckJSON differs from encoding/json (%d vs %d bytes)", got.Len(), len(want)+1)
		}
	}
	for _, topo := range []pcitest.Topology{pcitest.Sample(), pcitest.Wide(200)} {
		tr, err := pcitest.Generate(pcitest.TempDir(t), topo)
		if err != nil {
			t.Fatal(err)
		}
		proc := filepath.Join(tr.Root, "proc")
		for _, mounts := range []bool{true, false} {
			if mounts {
				os.MkdirAll(filepath.Join(proc, "net"), 0o755)
				os.WriteFile(filepath.Join(proc, "mounts"), []byte("/dev/nvme0n1p1 / ext4 rw 0 0\n"), 0o644)
			} else {
				os.RemoveAll(proc) // the rules cannot tell what dom0 uses: said in every device
			}
			svc := hotplug.New(hotplug.Env{Sysfs: pcibind.New(tr.Root, pcibind.WithProcRoot(proc))})
			rep, err := svc.Check(hotplug.CheckRequest{NoLibxl: true})
			if err != nil || len(rep.Devices) != len(tr.Funcs) {
				t.Fatalf("%d devices judged of %d: %v", len(rep.Devices), len(tr.Funcs), err)
			}
			// What only some reports have: a named device missing, an
			// open intent record, an unknown bus and NUMA node.
			missing, err := svc.Check(hotplug.CheckRequest{NoLibxl: true, Devices: []xl.PciBdf{{Bus: 0x7f}}})
			if err != nil {
				t.Fatal(err)
			}
			rep.Devices = append(rep.Devices, missing.Devices...)
			rep.Devices[0].OpenOperation = &hotplug.OpenOperation{Op: "hide", PID: 42, Time: "2026-01-02T03:04:05Z", Command: "xlpt <x>", Text: "make it assignable"}
			rep.Devices[1].Bus, rep.Devices[1].NUMANode = "", -1
			rep.Summary = hotplug.Summarize(rep.Devices)
			same(&doc{Schema: "xlpt/1", CheckReport: rep})
		}
	}
	same(&doc{CheckReport: hotplug.CheckReport{Devices: []hotplug.DeviceReport{}}})
}
