package undo

import (
	"errors"
	"strings"
	"testing"
)

func TestRunsInReverseOnlyOnError(t *testing.T) {
	var order []string
	run := func(fail error) error {
		var u Stack
		err := fail
		func() {
			defer u.RunOnError(&err, nil)
			u.Push("a", func() error { order = append(order, "a"); return nil })
			u.Push("b", func() error { order = append(order, "b"); return errors.New("stuck") })
		}()
		return err
	}
	if err := run(nil); err != nil || len(order) != 0 {
		t.Fatalf("success ran undos: %v %v", err, order)
	}
	err := run(errors.New("first"))
	if strings.Join(order, "") != "ba" {
		t.Errorf("order %v; want b then a", order)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "first") || !strings.Contains(err.Error(), "undo b: stuck") {
		t.Errorf("error %v; want the first failure with the undo's joined", err)
	}
}
