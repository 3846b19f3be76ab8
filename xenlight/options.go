package xenlight

import "github.com/sirupsen/logrus"

// Option configures Open.
type Option func(*options)

type options struct {
	log logrus.FieldLogger
	// skipProbe lets tests reach libxl_ctx_alloc itself.
	skipProbe bool
}

func newOptions(opts []Option) options {
	o := options{log: logrus.StandardLogger()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithLogger sends libxl's and libxenctrl's log messages to l instead of
// logrus' standard logger. Each entry has the field source=libxl and the
// library's own context (libxl, xc, xencall, ...).
func WithLogger(l logrus.FieldLogger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}
