package qmp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzReply reads QEMU's replies as the device-model client does: a line
// of at most a bound, a QMP message, its qdev ids read as devices. Never
// a panic; an id read as a device is one libxl writes.
func FuzzReply(f *testing.F) {
	for _, s := range []string{
		`{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}` + "\n",
		`{"return": [{"bus": 0, "devices": [{"qdev_id": "", "slot": 0}, {"slot": 7, "qdev_id": "pci-pt-03_00.0"}, {"pci_bridge": {"devices": [{"qdev_id": "pci-pt-3_1.2"}]}}]}]}` + "\n",
		`{"event": "DEVICE_DELETED", "data": {}}` + "\n" + `{"return": {}}` + "\n",
		`{"error": {"class": "GenericError", "desc": "Device 'pci-pt-03_00.0' not found"}}` + "\n",
		`{"return": [` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			line, err := readLine(rd, 1024)
			if err != nil {
				return
			}
			if len(line) > 1025 {
				t.Fatalf("a line of %d bytes past the bound of 1024", len(line))
			}
			m, err := parseMessage(line)
			if err != nil || m.Return == nil {
				continue
			}
			var v any
			if json.Unmarshal(m.Return, &v) != nil {
				continue
			}
			for _, id := range qdevIDs(v, nil) {
				if b, ok := ParseQdevID(id); ok && QdevID(b) != id {
					t.Fatalf("id %q read as %s, which libxl names %q", id, b, QdevID(b))
				}
			}
		}
	})
}
