package xenlight

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

func TestNoLibxlMatchesNoHypervisor(t *testing.T) {
	err := fmt.Errorf("open libxl: %w", ErrNoLibxl)
	if !errors.Is(err, xl.ErrNoHypervisor) || !errors.Is(err, ErrNoLibxl) {
		t.Errorf("%v should match ErrNoHypervisor and ErrNoLibxl", err)
	}
	if errors.Is(fmt.Errorf("open libxl: %w", xl.ErrNoHypervisor), ErrNoLibxl) {
		t.Errorf("ErrNoHypervisor must not match ErrNoLibxl")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("message spans lines: %q", err)
	}
}
