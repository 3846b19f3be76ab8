package qmp

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 25: QEMU's answers are bounded and read strictly.

// A device model that sends a reply without end is cut off at the line
// bound, not read until memory or the deadline runs out.
func TestQMPReplyLineIsBounded(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, "qmp-libxl-5"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(c, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["`)
		chunk := []byte(strings.Repeat("a", 64<<10))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	_, err = DeviceModel{RunDir: dir, Timeout: 20 * time.Second}.Devices(5)
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("an endless reply: %v after %v; want ErrLineTooLong", err, time.Since(start))
	}
}

// Only libxl's ids, exactly as libxl writes them, are read as devices:
// "pci-pt-3_1.2" or a device number over 0x1f is not one.
func TestQMPIdsAreReadStrictly(t *testing.T) {
	dir := t.TempDir()
	fakeQEMU(t, dir, 5, []string{"pci-pt-03_00.0", "pci-pt-3_1.2", "pci-pt-03_20.0", "pci-pt-03_00.0x", "pci-pt-ff_1f.7"})
	got, err := DeviceModel{RunDir: dir, Timeout: 5 * time.Second}.Devices(5)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, b := range got {
		s = append(s, b.String())
	}
	if strings.Join(s, " ") != "0000:03:00.0 0000:ff:1f.7" {
		t.Errorf("devices %v", s)
	}
}
