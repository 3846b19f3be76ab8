//go:build linux && cgo

package xenlight

/*
#include <stdlib.h>
#include "libxl_api.h"

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
	"runtime"
	"sync"
	"syscall"

	"github.com/xlpt/xlpt/xl"
)

// Context is one libxl_ctx (and one libxenctrl handle for what libxl does
// not offer). It is safe for concurrent use. libxl_ctx is thread-safe
// ("struct libxl_ctx* is threadsafe", libxl.h), so libxl's calls run at
// once, each on its own thread (one cgo call): libxl itself runs its
// internal steps under the ctx's lock and releases it only while it waits
// (for QEMU, a timer, a child), so several PCI adds or removes on one
// guest overlap their waits for QEMU and the guest while their xenstore
// updates stay one at a time. Each call's error messages are told apart
// by thread and by device (logSink). libxenctrl's reads of reserved
// memory and PoD run alongside too (libxl uses the same library from its
// callers' threads); pci-assignable-add/-remove (sysfs binding) and
// recovery's xenstore and Xen repairs run alone.
//
// Close it when done; there is no finalizer.
type Context struct {
	mu      sync.RWMutex
	ctx     *C.libxl_ctx // nil once closed
	xch     *C.xc_interface
	logger  *cLogger
	sink    *logSink
	sigchld *sigchldForwarder

	// A xenstore connection of its own, for reads libxl has no call for
	// (PciXsDomid): opened on first use, closed with the context.
	xsOnce sync.Once
	xsh    *C.struct_xs_handle
	xsErr  error
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
	if err := load(); err != nil {
		return nil, err
	}
	sink := newLogSink(o.log)
	lg, err := newCLogger(sink)
	if err != nil {
		return nil, err
	}
	c := &Context{logger: lg, sink: sink}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := sink.open(syscall.Gettid(), false)
	rc := C.libxl_ctx_alloc(&c.ctx, C.LIBXL_VERSION, 0, lg.lg)
	if msgs := sink.close(w); rc != 0 {
		lg.free()
		return nil, fmt.Errorf("open libxl: %w", &xl.CallError{Func: "libxl_ctx_alloc", Err: xl.Error(rc), Log: msgs})
	}
	// Before anything can fork: libxl must not install its own handler.
	C.xlpt_childproc_setmode(c.ctx)

	w = sink.open(syscall.Gettid(), false)
	xch, errno := C.xc_interface_open(lg.lg, lg.lg, 0)
	if msgs := sink.close(w); xch == nil {
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
	if c.xsh != nil {
		C.xs_close(c.xsh)
		c.xsh = nil
	}
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

// run calls fn alone, with no other call in progress: the calls xlpt
// never overlaps. If fn returns a
// *CallError, the error-level messages logged meanwhile are attached to it.
func (c *Context) run(fn func(ctx *C.libxl_ctx) error) error {
	if c == nil {
		return ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.call(false, nil, func(ctx *C.libxl_ctx, _ *window) error { return fn(ctx) })
}

// runShared calls fn alongside other shared calls. ao marks an
// asynchronous libxl operation (libxl runs its event loop, so its
// messages may be logged on other threads) on devs; else fn is a plain
// call, all of whose messages are logged on its own thread.
func (c *Context) runShared(ao bool, devs []xl.PciBdf, fn func(ctx *C.libxl_ctx, w *window) error) error {
	if c == nil {
		return ErrClosed
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.call(ao, devs, fn)
}

// call runs fn on one OS thread, named in its window of libxl's messages.
// The caller holds c.mu.
func (c *Context) call(ao bool, devs []xl.PciBdf, fn func(ctx *C.libxl_ctx, w *window) error) error {
	if c.ctx == nil {
		return ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := c.sink.open(syscall.Gettid(), ao, devs...)
	err := fn(c.ctx, w)
	msgs := c.sink.close(w)
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
