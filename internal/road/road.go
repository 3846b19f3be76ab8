// Package road is a command's one road out for what the operator must
// read besides its result: warnings and notes, on stderr whatever the log
// level (as "xlpt: CMD: warning: ..." lines, or JSON records under
// --log-format json), and kept for the --json document's envelope. It is
// a package of its own so that what runs below the command line can say
// something while it runs (a wait for the host lock) through its logger,
// without calling back into the command.
package road

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

// Road is one command's road.
type Road struct {
	w        io.Writer
	command  string // "pci-attach", "cfg check"
	json     bool
	warnings []string
	notes    []string
	flushed  int // warnings already on w
	nflushed int // notes already on w
}

// New opens the road of command on w (stderr); json writes JSON records.
func New(w io.Writer, command string, json bool) *Road {
	return &Road{w: w, command: command, json: json}
}

func (r *Road) Warn(ws ...string) { r.warnings = append(r.warnings, ws...) }
func (r *Road) Note(ns ...string) { r.notes = append(r.notes, ns...) }

// Warnings and Notes are everything said so far, for the envelope.
func (r *Road) Warnings() []string { return r.warnings }
func (r *Road) Notes() []string    { return r.notes }

// Flush writes the warnings and notes not yet written. Commands defer
// it, so that they come out also when the command fails.
func (r *Road) Flush() {
	if r.json {
		l := &logrus.Logger{Out: r.w, Formatter: &logrus.JSONFormatter{}, Level: logrus.TraceLevel, Hooks: logrus.LevelHooks{}}
		for _, s := range r.warnings[r.flushed:] {
			l.WithField("command", r.command).Warn(s)
		}
		for _, s := range r.notes[r.nflushed:] {
			l.WithField("command", r.command).Info(s)
		}
	} else {
		for _, s := range r.warnings[r.flushed:] {
			fmt.Fprintf(r.w, "xlpt: %s: warning: %s\n", r.command, s)
		}
		for _, s := range r.notes[r.nflushed:] {
			fmt.Fprintf(r.w, "xlpt: %s: note: %s\n", r.command, s)
		}
	}
	r.flushed, r.nflushed = len(r.warnings), len(r.notes)
}

// Logger is a logger for diagnostics with the road beside it, for what
// must be said at once (a hotplug.Logger).
type Logger struct {
	logrus.FieldLogger
	road *Road
}

// Logger pairs log with the road.
func (r *Road) Logger(log logrus.FieldLogger) Logger { return Logger{log, r} }

// Say puts msg on the road as a note now, not when the command ends.
func (l Logger) Say(msg string) {
	l.road.Note(msg)
	l.road.Flush()
}
