package xenlight

import (
	"regexp"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"
)

// xtlLevel mirrors xentoollog_level (xentoollog.h); logger_test checks the
// values against the header.
type xtlLevel int

const (
	xtlNone xtlLevel = iota
	xtlDebug
	xtlVerbose
	xtlDetail
	xtlProgress
	xtlInfo
	xtlNotice
	xtlWarn
	xtlError
	xtlCritical
)

// logrusLevel maps libxl's levels onto logrus', one step down from
// warnings on: xlpt explains outcomes itself and carries libxl's error
// lines in the errors it returns, so by default (warn) users see libxl's
// errors once as warnings and its warnings (mostly internal chatter such
// as "Device present in JSON but not in xenstore") only with -v.
func (l xtlLevel) logrusLevel() logrus.Level {
	switch {
	case l <= xtlDebug:
		return logrus.TraceLevel
	case l <= xtlProgress:
		return logrus.DebugLevel
	case l <= xtlWarn:
		return logrus.InfoLevel
	}
	return logrus.WarnLevel
}

// maxCaptured bounds the messages kept for one call; the first is the one
// reported, the rest only help when the log is not at hand.
const maxCaptured = 16

// logSink receives the messages of one Context's xentoollog logger. Between
// begin and end (one libxl call, under the Context's mutex) it also keeps
// the error-level messages, so the error returned can quote libxl. Messages
// from the SIGCHLD forwarder's thread fall in the same window on purpose:
// libxl completes the pending call's child-process steps there.
type logSink struct {
	log logrus.FieldLogger

	mu        sync.Mutex
	capturing bool
	captured  []string
}

func newLogSink(l logrus.FieldLogger) *logSink { return &logSink{log: l} }

// message is called (through cgo) for every message the libraries log.
func (s *logSink) message(level xtlLevel, errnoval int, context, msg string) {
	if context == "" {
		context = "libxl"
	}
	if errnoval >= 0 {
		msg += ": " + syscall.Errno(errnoval).Error()
	}
	s.log.WithFields(logrus.Fields{"source": "libxl", "context": context}).
		Log(level.logrusLevel(), msg)
	if level < xtlError {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.capturing && len(s.captured) < maxCaptured {
		s.captured = append(s.captured, context+": "+trimLogPrefix(msg))
	}
}

func (s *logSink) begin() {
	s.mu.Lock()
	s.capturing, s.captured = true, nil
	s.mu.Unlock()
}

// failed reports whether an error was logged since begin: some libxl calls
// (the list functions) signal failure only that way.
func (s *logSink) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.captured) > 0
}

func (s *logSink) end() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := s.captured
	s.capturing, s.captured = false, nil
	return msgs
}

// libxlPrefix is what libxl__logv puts before each message:
// "file.c:123:function: " and, for guests, "Domain 7:".
var libxlPrefix = regexp.MustCompile(`^[\w.-]+\.c:\d+:\w+: (?:Domain \d+:)?`)

// trimLogPrefix drops libxl's source position and domain from a message:
// useful in a debug log, noise in an error that already names the domain.
func trimLogPrefix(msg string) string {
	if loc := libxlPrefix.FindStringIndex(msg); loc != nil && loc[1] < len(msg) {
		return msg[loc[1]:]
	}
	return msg
}
