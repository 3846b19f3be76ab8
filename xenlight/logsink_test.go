package xenlight

import (
	"fmt"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
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
		s.message(tc.in, -1, "libxl", "hello")
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
	s.message(xtlError, 2, "", "cannot open libxc handle")
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
	s.message(xtlError, -1, "libxl", "before the call")
	s.begin()
	if s.failed() {
		t.Fatal("failed() before any error")
	}
	s.message(xtlWarn, -1, "libxl", "a warning is not captured")
	s.message(xtlError, -1, "libxl", "libxl_pci.c:1524:libxl__device_pci_add: Domain 1:PCI device 0:0:1f.2 is not assignable")
	s.message(xtlCritical, 13, "xc", "hypercall failed")
	if !s.failed() {
		t.Fatal("failed() after an error")
	}
	got := s.end()
	want := []string{"libxl: PCI device 0:0:1f.2 is not assignable", "xc: hypercall failed: permission denied"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("captured %q\nwant     %q", got, want)
	}
	s.message(xtlError, -1, "libxl", "after the call")
	s.begin()
	if got := s.end(); got != nil {
		t.Errorf("a new window starts empty, got %q", got)
	}
}

func TestCaptureBounded(t *testing.T) {
	s, _ := newTestSink()
	s.begin()
	for i := 0; i < 3*maxCaptured; i++ {
		s.message(xtlError, -1, "libxl", fmt.Sprint("error ", i))
	}
	got := s.end()
	if len(got) != maxCaptured || got[0] != "libxl: error 0" {
		t.Errorf("kept %d, first %q", len(got), got[0])
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
