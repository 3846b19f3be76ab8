package hotplug

import (
	"fmt"

	"github.com/sirupsen/logrus"
)

// undoStack holds the undo of every step done so far, so undo sits beside
// do (runc's style): push after each step succeeds; on failure the undos
// run in reverse. An undo that fails is logged and joined to the error,
// never hiding the first failure.
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

// runOnError is deferred with the function's named error; the pointer
// receiver makes the deferred call see the steps pushed after the defer.
func (u *undoStack) runOnError(retErr *error, log logrus.FieldLogger) {
	if *retErr == nil {
		return
	}
	for i := len(*u) - 1; i >= 0; i-- {
		if err := (*u)[i](); err != nil {
			log.WithError(err).Warn("rollback step failed")
			*retErr = fmt.Errorf("%w; rollback: %w", *retErr, err)
		}
	}
}
