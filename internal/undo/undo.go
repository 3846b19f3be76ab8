// Package undo keeps the undo of every step done so far, so undo sits
// beside do: push after a step is registered, and on failure the undos run
// in reverse. An undo that fails is logged and joined to the error, never
// hiding the first failure. hotplug and pcibind both use it.
package undo

import (
	"fmt"

	"github.com/sirupsen/logrus"
)

// Stack is the undo of the steps done so far.
type Stack struct {
	steps  []step
	failed bool
}

// Failed says whether an undo failed: the change is then half-undone, and
// whatever records it must stay for recovery.
func (u *Stack) Failed() bool { return u.failed }

type step struct {
	what string
	fn   func() error
}

// Push registers the undo of a step; what names it in a failure.
func (u *Stack) Push(what string, fn func() error) { u.steps = append(u.steps, step{what, fn}) }

// RunOnError is deferred with the function's named error: when it is set,
// every undo runs, last first. Called through a pointer, the deferred call
// sees the steps pushed after the defer. A nil log means logrus's
// standard logger.
func (u *Stack) RunOnError(retErr *error, log logrus.FieldLogger) {
	if *retErr == nil {
		return
	}
	if log == nil {
		log = logrus.StandardLogger()
	}
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if err := s.fn(); err != nil {
			u.failed = true
			log.WithError(err).Warnf("undo failed: %s", s.what)
			*retErr = fmt.Errorf("%w; undo %s: %w", *retErr, s.what, err)
		}
	}
}
