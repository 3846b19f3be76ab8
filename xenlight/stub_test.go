//go:build !cgo || !linux

package xenlight

import (
	"errors"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

func TestStubOpen(t *testing.T) {
	c, err := Open()
	if c != nil || !errors.Is(err, xl.ErrNoHypervisor) || !errors.Is(err, ErrNoLibxl) {
		t.Fatalf("Open() = %v, %v", c, err)
	}
	if !strings.Contains(err.Error(), "without cgo") {
		t.Errorf("message does not name the cause: %v", err)
	}
	var s *Context
	if _, err := s.PciList(1); !errors.Is(err, xl.ErrNoHypervisor) {
		t.Errorf("PciList: %v", err)
	}
	if err := s.PciAdd(1, xl.NewDevicePci()); !errors.Is(err, ErrNoLibxl) {
		t.Errorf("PciAdd: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
