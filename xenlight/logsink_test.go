package xenlight

import (
	"fmt"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/xlpt/xlpt/xl"
)

func newTestSink() (*logSink, *test.Hook) {
	l, hook := test.NewNullLogger()
	l.SetLevel(logrus.TraceLevel)
	return newLogSink(l), hook
}

func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		in   xtlLevel
		want logrus.Level
	}{
		{xtlDebug, logrus.TraceLevel},
		{xtlVerbose, logrus.DebugLevel},
		{xtlDetail, logrus.DebugLevel},
		{xtlProgress, logrus.DebugLevel},
		{xtlInfo, logrus.InfoLevel},
		{xtlNotice, logrus.InfoLevel},
		{xtlWarn, logrus.InfoLevel},
		{xtlError, logrus.WarnLevel},
		{xtlCritical, logrus.WarnLevel},
	} {
		s, hook := newTestSink()
		s.message(1, tc.in, -1, "libxl", "hello")
		e := hook.LastEntry()
		if e == nil {
			t.Fatalf("level %d: nothing logged", tc.in)
		}
		if e.Level != tc.want {
			t.Errorf("level %d logged at %v, want %v", tc.in, e.Level, tc.want)
		}
		if e.Data["source"] != "libxl" || e.Data["context"] != "libxl" || e.Message != "hello" {
			t.Errorf("level %d: entry %q %v", tc.in, e.Message, e.Data)
		}
	}
}

func TestLogErrnoAndContext(t *testing.T) {
	s, hook := newTestSink()
	s.message(1, xtlError, 2, "", "cannot open libxc handle")
	e := hook.LastEntry()
	if e.Message != "cannot open libxc handle: no such file or directory" {
		t.Errorf("message %q", e.Message)
	}
	if e.Data["context"] != "libxl" {
		t.Errorf("empty context should read libxl, got %v", e.Data["context"])
	}
}

func TestCaptureWindow(t *testing.T) {
	s, _ := newTestSink()
	s.message(1, xtlError, -1, "libxl", "before the call")
	w := s.open(1, false)
	if s.failed(w) {
		t.Fatal("failed() before any error")
	}
	s.message(1, xtlWarn, -1, "libxl", "a warning is not captured")
	s.message(1, xtlError, -1, "libxl", "libxl_pci.c:1524:libxl__device_pci_add: Domain 1:PCI device 0:0:1f.2 is not assignable")
	s.message(7, xtlCritical, 13, "xc", "hypercall failed") // another thread, the call alone: still its own
	if !s.failed(w) {
		t.Fatal("failed() after an error")
	}
	got := s.close(w)
	want := []string{"libxl: PCI device 0:0:1f.2 is not assignable", "xc: hypercall failed: permission denied"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("captured %q\nwant     %q", got, want)
	}
	s.message(1, xtlError, -1, "libxl", "after the call")
	w = s.open(1, false)
	if got := s.close(w); got != nil {
		t.Errorf("a new window starts empty, got %q", got)
	}
}

func TestCaptureBounded(t *testing.T) {
	s, _ := newTestSink()
	w := s.open(1, false)
	for i := 0; i < 3*maxCaptured; i++ {
		s.message(1, xtlError, -1, "libxl", fmt.Sprint("error ", i))
	}
	got := s.close(w)
	if len(got) != maxCaptured || got[0] != "libxl: error 0" {
		t.Errorf("kept %d, first %q", len(got), got[0])
	}
}

// Calls at once: a plain call keeps what its thread logs; a PCI operation
// what names its device, and what names none of the operations' devices;
// a thread that runs no call (the SIGCHLD forwarder's) reaches every call.
func TestCaptureRoutesConcurrentCalls(t *testing.T) {
	a := xl.PciBdf{Bus: 3}
	b := xl.PciBdf{Bus: 3, Func: 1}
	s, _ := newTestSink()
	wa := s.open(10, true, a)
	wb := s.open(11, true, b)
	list := s.open(12, false)
	for _, m := range []struct {
		tid int
		msg string
	}{
		{10, "libxl_qmp.c:1:qmp_ev: Domain 5:Duplicate device ID 'pci-pt-03_00.1' for device"}, // b's, on a's thread
		{11, "libxl_pci.c:1:pci_remove_timeout: Domain 5:timed out waiting for DM to remove pci-pt-03_00.0"},
		{10, "libxl_pci.c:1:libxl__device_pci_add: Domain 5:PCI device 0:3:0.0 is not assignable"},
		{11, "libxl_pci.c:1:pci_remove_detached: Domain 5:xc_deassign_device failed"}, // names no device
		{12, "libxl_pci.c:1:libxl_device_pci_list: Domain 5:no such domain"},          // the list's own
		{99, "libxl_fork.c:1:childproc_reaped: child exited"},                         // no call's thread
		{10, "slot 6 function 0 not available, in use by xen-pci-passthrough,id=pci-pt-13_00.0"},
		{12, "libxl_pci.c:1:f: Domain 5:PCI device 0:13:0.0 and pci-pt-03_00.0 on the list's thread"},
	} {
		s.message(m.tid, xtlError, -1, "libxl", m.msg)
	}
	want := map[*window][]string{
		wa: {"libxl: timed out waiting for DM to remove pci-pt-03_00.0", "libxl: PCI device 0:3:0.0 is not assignable",
			"libxl: xc_deassign_device failed", "libxl: child exited", "libxl: slot 6 function 0 not available, in use by xen-pci-passthrough,id=pci-pt-13_00.0"},
		wb: {"libxl: Duplicate device ID 'pci-pt-03_00.1' for device", "libxl: xc_deassign_device failed", "libxl: child exited",
			"libxl: slot 6 function 0 not available, in use by xen-pci-passthrough,id=pci-pt-13_00.0"},
		list: {"libxl: no such domain", "libxl: child exited", "libxl: PCI device 0:13:0.0 and pci-pt-03_00.0 on the list's thread"},
	}
	for w, name := range map[*window]string{wa: "a's", wb: "b's", list: "the list's"} {
		if got := s.close(w); fmt.Sprint(got) != fmt.Sprint(want[w]) {
			t.Errorf("%s window:\n got  %q\n want %q", name, got, want[w])
		}
	}
}

func TestMentionsWholeDevice(t *testing.T) {
	for _, c := range []struct {
		msg, key string
		want     bool
	}{
		{"PCI device 0:1:0.1 is not assignable", "0:1:0.1", true},
		{"PCI device 10:1:0.1 is not assignable", "0:1:0.1", false},
		{"PCI device 0:1:0.12 is not assignable", "0:1:0.1", false},
		{"device 0:1:0.1.", "0:1:0.1", true},
		{"Couldn't open /sys/bus/pci/devices/0000:03:00.0/resource", "0000:03:00.0", true},
		{"Duplicate device ID 'pci-pt-03_00.0'", "pci-pt-03_00.0", true},
		{"Duplicate device ID 'pci-pt-03_00.0'", "0:3:0.0", false},
		{"0:3:0.0 then 0:3:0.0x", "0:3:0.0", true},
		{"1:3:0.0 only", "0:3:0.0", false},
	} {
		if got := mentions(c.msg, c.key); got != c.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", c.msg, c.key, got, c.want)
		}
	}
}

func TestTrimLogPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"libxl_pci.c:1524:libxl__device_pci_add: Domain 1:PCI device 0:0:1f.2 is not assignable": "PCI device 0:0:1f.2 is not assignable",
		"libxl.c:102:libxl_ctx_alloc: cannot open libxc handle":                                  "cannot open libxc handle",
		"libxl_qmp.c:1837:qmp_ev_parse_error_messages: Domain 12:Duplicate ID 'pci-pt-02_00.0'":  "Duplicate ID 'pci-pt-02_00.0'",
		"Could not obtain handle on privileged command interface":                                "Could not obtain handle on privileged command interface",
		"xc_assign_device: failed": "xc_assign_device: failed",
		"libxl.c:1:f: ":            "libxl.c:1:f: ",
	} {
		if got := trimLogPrefix(in); got != want {
			t.Errorf("trimLogPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
