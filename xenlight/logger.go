//go:build linux && cgo

package xenlight

/*
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "libxl_api.h"

// Defined in logbridge.go (//export).
extern void xlptLogMessage(uintptr_t sink, int level, int errnoval, char *context, char *msg);

// A xentoollog logger that hands each message to Go. The Go side is
// named by a cgo.Handle, since C must not keep Go pointers.
typedef struct {
	xentoollog_logger vtable;
	uintptr_t sink;
	pid_t pid;
} xlpt_logger;

static void xlpt_vmessage(xentoollog_logger *lg, xentoollog_level level, int errnoval,
                          const char *context, const char *format, va_list al)
{
	xlpt_logger *l = (xlpt_logger *)lg;
	va_list aq;
	int n;
	char *msg;

	va_copy(aq, al);
	n = vsnprintf(NULL, 0, format, aq);
	va_end(aq);
	if (n < 0 || !(msg = malloc((size_t)n + 1)))
		return;
	vsnprintf(msg, (size_t)n + 1, format, al);

	if (getpid() != l->pid) {
		// libxl logs from its forked children before they exec; the Go
		// runtime is not usable in such a child, so write to stderr.
		if (level >= XTL_WARN)
			fprintf(stderr, "%s: %s\n", context ? context : "libxl", msg);
	} else {
		xlptLogMessage(l->sink, level, errnoval, (char *)context, msg);
	}
	free(msg);
}

static void xlpt_destroy(xentoollog_logger *lg)
{
	free(lg);
}

static xentoollog_logger *xlpt_logger_new(uintptr_t sink)
{
	xlpt_logger *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->vtable.vmessage = xlpt_vmessage;
	l->vtable.progress = NULL; // allowed: xtl_progress skips it
	l->vtable.destroy = xlpt_destroy;
	l->sink = sink;
	l->pid = getpid();
	return &l->vtable;
}

static void xlpt_log(xentoollog_logger *lg, int level, int errnoval,
                     const char *context, const char *msg)
{
	xtl_log(lg, (xentoollog_level)level, errnoval, context, "%s", msg);
}
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"unsafe"
)

// cLogger is a C xentoollog logger bound to a logSink. free destroys it
// and releases the handle; the libxl ctx and xc interface using it must be
// freed first.
type cLogger struct {
	lg     *C.xentoollog_logger
	handle cgo.Handle
}

func newCLogger(s *logSink) (*cLogger, error) {
	if err := load(); err != nil { // xtl_logger_destroy, xtl_log
		return nil, err
	}
	h := cgo.NewHandle(s)
	lg := C.xlpt_logger_new(C.uintptr_t(h))
	if lg == nil {
		h.Delete()
		return nil, errors.New("xenlight: cannot allocate a xentoollog logger")
	}
	return &cLogger{lg: lg, handle: h}, nil
}

func (l *cLogger) free() {
	C.xtl_logger_destroy(l.lg)
	l.handle.Delete()
}

// log sends one message through the C logger, as libxl would; for tests.
func (l *cLogger) log(level xtlLevel, errnoval int, context, msg string) {
	cctx := C.CString(context)
	defer C.free(unsafe.Pointer(cctx))
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	C.xlpt_log(l.lg, C.int(level), C.int(errnoval), cctx, cmsg)
}
