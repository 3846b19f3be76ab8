package timing

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestLogAtDebugOnly(t *testing.T) {
	var buf bytes.Buffer
	l := &logrus.Logger{Out: &buf, Formatter: &logrus.TextFormatter{DisableTimestamp: true}, Level: logrus.WarnLevel, Hooks: logrus.LevelHooks{}}
	Log(l, "quiet", time.Now())
	if buf.Len() != 0 {
		t.Errorf("logged at warn level: %q", buf.String())
	}
	l.Level = logrus.DebugLevel
	v, err := Do(l, "libxl pci add", func() (int, error) { return 7, nil })
	if v != 7 || err != nil || !strings.Contains(buf.String(), `msg="timing: libxl pci add"`) || !strings.Contains(buf.String(), "since_start_ms=") {
		t.Errorf("%d %v %q", v, err, buf.String())
	}
}
