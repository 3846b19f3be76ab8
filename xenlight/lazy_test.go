package xenlight

import (
	"errors"
	"testing"

	"github.com/sirupsen/logrus"
)

// Outside a dom0 (the test machine) the open fails: once, and every
// later call gets the same error without trying again.
func TestLazyOpensOnce(t *testing.T) {
	l := NewLazy(logrus.StandardLogger())
	if l.done {
		t.Fatal("opened before first use")
	}
	_, err1 := l.Open()
	if err1 == nil {
		t.Skip("libxl opened: this is a dom0")
	}
	_, err2 := l.Open()
	if !errors.Is(err2, err1) && err2.Error() != err1.Error() {
		t.Errorf("second open: %v, first: %v", err2, err1)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	var none *Lazy
	if err := none.Close(); err != nil {
		t.Error(err)
	}
}
