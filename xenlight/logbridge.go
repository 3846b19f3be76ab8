//go:build linux && cgo

package xenlight

// This file only holds the //export, whose preamble may not define C code.

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"syscall"
)

// xlptLogMessage runs on the C thread that logged (a cgo callback keeps
// its thread), so Gettid names the thread libxl logged on.
//
//export xlptLogMessage
func xlptLogMessage(sink C.uintptr_t, level, errnoval C.int, context, msg *C.char) {
	s, ok := cgo.Handle(sink).Value().(*logSink)
	if !ok {
		return
	}
	ctx := ""
	if context != nil {
		ctx = C.GoString(context)
	}
	s.message(syscall.Gettid(), xtlLevel(level), int(errnoval), ctx, C.GoString(msg))
}
