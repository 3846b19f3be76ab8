package xenlight

import (
	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/xl"
)

// Lazy is libxl opened on first use, once: a command that turns out not
// to need libxl (a report from sysfs, a restore with nothing to do)
// never pays for the open, 100-250 ms on a dom0. Not for concurrent use.
type Lazy struct {
	log  logrus.FieldLogger
	opts []Option
	ctx  *Context
	err  error
	done bool
}

// NewLazy returns libxl, to be opened with opts on first use; log takes
// the open's and the calls' times at debug level (Timed).
func NewLazy(log logrus.FieldLogger, opts ...Option) *Lazy {
	return &Lazy{log: log, opts: opts}
}

// Open returns the context, timed, opening it the first time; every
// later call gets the same context, or the same error.
func (l *Lazy) Open() (xl.Toolstack, error) {
	if !l.done {
		l.done = true
		l.ctx, l.err = timing.Do(l.log, "libxl open", func() (*Context, error) { return Open(l.opts...) })
	}
	if l.err != nil {
		return nil, l.err
	}
	return Timed(l.ctx, l.log), nil
}

// Close closes the context if it was opened.
func (l *Lazy) Close() error {
	if l == nil || l.ctx == nil {
		return nil
	}
	err := l.ctx.Close()
	l.ctx = nil
	return err
}
