package xenlight

import (
	"errors"

	"github.com/xlpt/xlpt/xl"
)

// ErrNoLibxl is returned by every call of a build without cgo. It also
// matches ErrNoHypervisor, since callers handle both the same way.
var ErrNoLibxl error = noLibxl{}

type noLibxl struct{}

func (noLibxl) Error() string {
	return "xlpt was built without cgo, so it cannot use libxl (rebuild with CGO_ENABLED=1 and libxen-dev installed)"
}

func (noLibxl) Is(target error) bool { return target == xl.ErrNoHypervisor }

// ErrClosed is returned by calls on a closed (or nil) Context.
var ErrClosed = errors.New("xenlight: context is closed")
