package xenlight

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/xl"
)

// nopTS answers every call with nothing (the embedded nil interface is
// never reached by the calls below).
type nopTS struct{ xl.Toolstack }

func (nopTS) PciAdd(uint32, xl.DevicePci) error      { return nil }
func (nopTS) PciList(uint32) ([]xl.DevicePci, error) { return nil, nil }

func TestTimedLogsEachCallAtDebug(t *testing.T) {
	var buf bytes.Buffer
	l := &logrus.Logger{Out: &buf, Formatter: &logrus.TextFormatter{DisableTimestamp: true}, Level: logrus.InfoLevel, Hooks: logrus.LevelHooks{}}
	if _, ok := Timed(nopTS{}, l).(timed); ok {
		t.Error("wrapped below debug level")
	}
	l.Level = logrus.DebugLevel
	ts := Timed(nopTS{}, l)
	if err := ts.PciAdd(3, xl.NewDevicePci()); err != nil {
		t.Fatal(err)
	}
	ts.PciList(3)
	for _, want := range []string{"timing: libxl pci add", "timing: libxl pci list 3"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %q in %q", want, buf.String())
		}
	}
}
