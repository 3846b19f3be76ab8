package road

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestRoadText(t *testing.T) {
	var w bytes.Buffer
	r := New(&w, "cfg check", false)
	r.Warn("a")
	r.Note("b")
	r.Flush()
	r.Flush() // nothing twice
	r.Logger(logrus.StandardLogger()).Say("now")
	want := "xlpt: cfg check: warning: a\nxlpt: cfg check: note: b\nxlpt: cfg check: note: now\n"
	if w.String() != want {
		t.Errorf("%q\nwant %q", w.String(), want)
	}
	if len(r.Warnings()) != 1 || len(r.Notes()) != 2 {
		t.Errorf("kept %v %v", r.Warnings(), r.Notes())
	}
}

func TestRoadJSON(t *testing.T) {
	var w bytes.Buffer
	r := New(&w, "pci-attach", true)
	r.Warn("w")
	r.Flush()
	if !strings.Contains(w.String(), `"command":"pci-attach"`) || !strings.Contains(w.String(), `"level":"warning"`) || !strings.Contains(w.String(), `"msg":"w"`) {
		t.Errorf("%q", w.String())
	}
}
