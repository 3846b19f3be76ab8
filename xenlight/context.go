//go:build linux && cgo

package xenlight

/*
#cgo pkg-config: xenlight xlutil xentoollog xencontrol
#include <stdlib.h>
#include "libxl_api.h"
#include <xenctrl.h>

// libxl keeps this pointer for the life of the ctx, hence static storage.
static const libxl_childproc_hooks xlpt_childproc_hooks = {
	.chldowner = libxl_sigchld_owner_mainloop,
};

static void xlpt_childproc_setmode(libxl_ctx *ctx)
{
	libxl_childproc_setmode(ctx, &xlpt_childproc_hooks, NULL);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"

	"github.com/xlpt/xlpt/xl"
)

// Context is one libxl_ctx (and one libxenctrl handle for what libxl does
// not offer). It is safe for concurrent use: a mutex serialises the calls,
// so that libxl's error messages can be attributed to the call that caused
// them. libxl needs no particular OS thread: each call is one cgo call,
// which runs on one thread, and libxl_ctx is itself thread-safe.
//
// Close it when done; there is no finalizer.
type Context struct {
	mu      sync.Mutex
	ctx     *C.libxl_ctx // nil once closed
	xch     *C.xc_interface
	logger  *cLogger
	sink    *logSink
	sigchld *sigchldForwarder
}

// Open allocates a libxl context. On a machine that is not a Xen dom0, or
// without root, the error wraps ErrNoHypervisor and says which.
func Open(opts ...Option) (*Context, error) {
	o := newOptions(opts)
	if !o.skipProbe {
		if err := (hostProbe{}).check(); err != nil {
			return nil, err
		}
	}
	sink := newLogSink(o.log)
	lg, err := newCLogger(sink)
	if err != nil {
		return nil, err
	}
	c := &Context{logger: lg, sink: sink}

	sink.begin()
	rc := C.libxl_ctx_alloc(&c.ctx, C.LIBXL_VERSION, 0, lg.lg)
	if msgs := sink.end(); rc != 0 {
		lg.free()
		return nil, fmt.Errorf("open libxl: %w", &xl.CallError{Func: "libxl_ctx_alloc", Err: xl.Error(rc), Log: msgs})
	}
	// Before anything can fork: libxl must not install its own handler.
	C.xlpt_childproc_setmode(c.ctx)

	sink.begin()
	xch, errno := C.xc_interface_open(lg.lg, lg.lg, 0)
	if msgs := sink.end(); xch == nil {
		C.libxl_ctx_free(c.ctx)
		lg.free()
		return nil, fmt.Errorf("open libxenctrl: %w", &xl.CallError{Func: "xc_interface_open", Err: errno, Log: msgs})
	}
	c.xch = xch

	ctx := c.ctx
	c.sigchld = startSigchldForwarder(func() { C.libxl_childproc_sigchld_occurred(ctx) })
	return c, nil
}

// Close frees the context. It waits for a call in progress, and may be
// called more than once.
func (c *Context) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil
	}
	c.sigchld.stop()
	rc := C.libxl_ctx_free(c.ctx)
	c.ctx = nil
	C.xc_interface_close(c.xch)
	c.xch = nil
	c.logger.free() // last: libxl and libxenctrl log until they are freed
	if rc != 0 {
		return fmt.Errorf("close libxl: %w", &xl.CallError{Func: "libxl_ctx_free", Err: xl.Error(rc)})
	}
	return nil
}

// run calls fn with the context locked. If fn returns a *CallError, the
// error-level messages logged meanwhile are attached to it.
func (c *Context) run(fn func(ctx *C.libxl_ctx) error) error {
	if c == nil {
		return ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return ErrClosed
	}
	c.sink.begin()
	err := fn(c.ctx)
	msgs := c.sink.end()
	var ce *xl.CallError
	if errors.As(err, &ce) && ce.Log == nil {
		ce.Log = msgs
	}
	return err
}

// libxlErr turns a libxl return code into an error (nil for 0).
func libxlErr(fn string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return &xl.CallError{Func: fn, Err: xl.Error(rc)}
}
