package qmp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/xl"
)

// fakeQEMU answers QMP as QEMU does: greeting, capabilities, query-pci
// listing its devices, device_del that removes one after an event.
func fakeQEMU(t *testing.T, dir string, domid int, devices []string) *[]string {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(dir, fmt.Sprintf("qmp-libxl-%d", domid)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var log []string
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}`)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var req struct {
				Execute   string            `json:"execute"`
				Arguments map[string]string `json:"arguments"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			log = append(log, req.Execute)
			switch req.Execute {
			case "query-pci":
				var devs []string
				for _, d := range devices {
					devs = append(devs, fmt.Sprintf(`{"slot": 7, "qdev_id": %q}`, d))
				}
				fmt.Fprintf(c, `{"return": [{"bus": 0, "devices": [{"qdev_id": "", "slot": 0}, %s]}]}`+"\n", strings.Join(devs, ","))
			case "device_del":
				var keep []string
				for _, d := range devices {
					if d != req.Arguments["id"] {
						keep = append(keep, d)
					}
				}
				devices = keep
				fmt.Fprintln(c, `{"event": "DEVICE_DELETED", "data": {}}`)
				fmt.Fprintln(c, `{"return": {}}`)
			default:
				fmt.Fprintln(c, `{"return": {}}`)
			}
		}
	}()
	return &log
}

func TestRemoveStaleDeletesLeftoverDevice(t *testing.T) {
	dir := t.TempDir()
	log := fakeQEMU(t, dir, 5, []string{"pci-pt-00_07.0", "pci-pt-00_06.0"})
	m := DeviceModel{RunDir: dir, Timeout: 5 * time.Second}
	if err := m.RemoveStale(5, xl.PciBdf{Dev: 7}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(*log, " ")
	if got != "qmp_capabilities query-pci device_del query-pci" {
		t.Errorf("QMP conversation %q", got)
	}
}

func TestRemoveStaleLeavesOthersAlone(t *testing.T) {
	dir := t.TempDir()
	log := fakeQEMU(t, dir, 5, []string{"pci-pt-00_06.0"})
	if err := (DeviceModel{RunDir: dir}).RemoveStale(5, xl.PciBdf{Dev: 7}); err != nil {
		t.Fatal(err)
	}
	for _, c := range *log {
		if c == "device_del" {
			t.Errorf("deleted a device that was not stale: %v", *log)
		}
	}
	// No socket (PV guest): nothing to do.
	if err := (DeviceModel{RunDir: t.TempDir()}).RemoveStale(9, xl.PciBdf{}); err != nil {
		t.Error(err)
	}
}

func TestQdevIDMatchesLibxl(t *testing.T) {
	if got := QdevID(xl.PciBdf{Bus: 1, Dev: 0x1f, Func: 7}); got != "pci-pt-01_1f.7" {
		t.Errorf("QdevID = %q", got)
	}
}

func TestDevicesListsPassedThroughOnly(t *testing.T) {
	dir := t.TempDir()
	fakeQEMU(t, dir, 5, []string{"pci-pt-00_06.0", "pci-pt-03_1f.7", "nic0"})
	got, err := DeviceModel{RunDir: dir}.Devices(5)
	if err != nil {
		t.Fatal(err)
	}
	want := []xl.PciBdf{{Dev: 6}, {Bus: 3, Dev: 0x1f, Func: 7}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Devices = %v; want %v", got, want)
	}
	if got, err := (DeviceModel{RunDir: t.TempDir()}).Devices(9); err != nil || got != nil {
		t.Errorf("no device model: %v %v", got, err)
	}
}
