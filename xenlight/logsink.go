package xenlight

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/xl"
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

// logSink receives the messages of one Context's xentoollog logger. While
// a libxl call runs it keeps the error-level messages in the call's
// window, so the error returned can quote libxl.
//
// Calls may run at once (libxl_ctx is thread-safe), and libxl logs a
// call's messages on whichever thread runs its event loop, so a message
// goes to a window by these rules:
//   - logged on the thread of a plain call (no event loop: a list, a
//     domain's info): that call's, as a plain call runs on its own thread;
//   - naming the device of an asynchronous call in progress (a PCI add,
//     remove or destroy: QEMU's id pci-pt-BB_DD.F or libxl's BDF): that
//     call's;
//   - else, from a thread that runs no call (the SIGCHLD forwarder's,
//     where libxl completes a pending call's child-process steps): every
//     call's;
//   - else every asynchronous call's: a message that names no device may
//     belong to any of them, and is quoted by each that fails rather than
//     lost.
//
// With one call at a time (all but concurrent PCI operations) every
// message logged during the call is the call's, as it always was.
type logSink struct {
	log logrus.FieldLogger

	mu      sync.Mutex
	windows []*window
}

// window is one libxl call's capture of error messages.
type window struct {
	tid  int      // the OS thread the call runs on
	ao   bool     // an asynchronous libxl operation: its callbacks may run on other calls' threads
	keys []string // how libxl and QEMU name its devices (deviceKeys)
	msgs []string
}

func newLogSink(l logrus.FieldLogger) *logSink { return &logSink{log: l} }

// message is called (through cgo) for every message the libraries log,
// with the thread it was logged on.
func (s *logSink) message(tid int, level xtlLevel, errnoval int, context, msg string) {
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
	line := context + ": " + trimLogPrefix(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.route(tid, msg) {
		if len(w.msgs) < maxCaptured {
			w.msgs = append(w.msgs, line)
		}
	}
}

// route picks the windows a message logged on thread tid goes to (see
// logSink). Called with s.mu held.
func (s *logSink) route(tid int, msg string) []*window {
	own := false
	for _, w := range s.windows {
		if w.tid == tid {
			if !w.ao {
				return []*window{w}
			}
			own = true
		}
	}
	var named, aos []*window
	for _, w := range s.windows {
		if !w.ao {
			continue
		}
		aos = append(aos, w)
		for _, k := range w.keys {
			if mentions(msg, k) {
				named = append(named, w)
				break
			}
		}
	}
	switch {
	case len(named) > 0:
		return named
	case !own:
		return s.windows
	}
	return aos
}

// open starts a call's window: tid is its thread, ao says it is an
// asynchronous libxl operation on devs.
func (s *logSink) open(tid int, ao bool, devs ...xl.PciBdf) *window {
	w := &window{tid: tid, ao: ao}
	for _, b := range devs {
		w.keys = append(w.keys, deviceKeys(b)...)
	}
	s.mu.Lock()
	s.windows = append(s.windows, w)
	s.mu.Unlock()
	return w
}

// failed reports whether an error was logged into w so far: some libxl
// calls (the list functions) signal failure only that way.
func (s *logSink) failed(w *window) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(w.msgs) > 0
}

// close ends w and returns what it captured.
func (s *logSink) close(w *window) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.windows {
		if x == w {
			s.windows = append(s.windows[:i], s.windows[i+1:]...)
			break
		}
	}
	return w.msgs
}

// deviceKeys are the ways libxl 4.17 and QEMU name b in messages: QEMU's
// device id (libxl's PCI_PT_QDEV_ID, without the segment), the full BDF
// (PCI_BDF, sysfs paths) and libxl's short "%x:%x:%x.%x".
func deviceKeys(b xl.PciBdf) []string {
	return []string{
		fmt.Sprintf("pci-pt-%02x_%02x.%01x", b.Bus, b.Dev, b.Func),
		fmt.Sprintf("%04x:%02x:%02x.%01x", b.Domain, b.Bus, b.Dev, b.Func),
		fmt.Sprintf("%x:%x:%x.%x", b.Domain, b.Bus, b.Dev, b.Func),
	}
}

// mentions reports whether msg names key as a whole: not as the tail or
// head of a longer number ("0:1:0.1" is not in "10:1:0.1" or "0:1:0.12").
func mentions(msg, key string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], key)
		if j < 0 {
			return false
		}
		at, end := i+j, i+j+len(key)
		if (at == 0 || !bdfChar(msg[at-1])) && (end == len(msg) || !bdfChar(msg[end])) {
			return true
		}
		i = at + 1
	}
}

// bdfChar is a character that would continue a BDF or device id beside
// it: a hex digit, or a separator inside one (a full stop after one ends
// a sentence).
func bdfChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '_'
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
