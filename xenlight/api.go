package xenlight

import "github.com/xlpt/xlpt/xl"

// contextAPI is Context's method set: xl.Toolstack (the one list of the
// calls xlpt makes) and what only a Context has. Both the cgo binding and
// the stub must satisfy it, so the two builds cannot drift apart
// unnoticed.
type contextAPI interface {
	xl.Toolstack
	Close() error
	PodTarget(domid uint32) (xl.PodTarget, error)
}

var _ contextAPI = (*Context)(nil)

// Open's signature is checked the same way.
var _ func(...Option) (*Context, error) = Open
