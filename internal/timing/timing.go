// Package timing says where a run's time goes, at debug level (-vv):
// libxl's open and every libxl call, the host read, the host lock, the
// checks, the whole run, each with its own time and the time since the
// process began. The speed work (issue 12) starts from these lines. Each
// package times its own work through its own logger, so no package hands
// another a timing wrapper.
package timing

import (
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
)

// start is when the process began, near enough: this package's init.
var start = time.Now()

// Start is when the process began.
func Start() time.Time { return start }

// Log logs on log, at debug level, that what took since begin.
func Log(log logrus.FieldLogger, what string, begin time.Time) {
	if l, ok := log.(interface{ IsLevelEnabled(logrus.Level) bool }); ok && !l.IsLevelEnabled(logrus.DebugLevel) {
		return
	}
	log.WithField("ms", ms(time.Since(begin))).WithField("since_start_ms", ms(time.Since(start))).Debug("timing: " + what)
}

// Do runs f and logs its time.
func Do[T any](log logrus.FieldLogger, what string, f func() (T, error)) (T, error) {
	defer Log(log, what, time.Now())
	return f()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
