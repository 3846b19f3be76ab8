package xl

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		name string
		text string
	}{
		{ErrFail, "ERROR_FAIL", "ERROR_FAIL (-3): failed"},
		{ErrInval, "ERROR_INVAL", "ERROR_INVAL (-6): invalid argument"},
		{ErrTimedOut, "ERROR_TIMEDOUT", "ERROR_TIMEDOUT (-9): timed out"},
		{ErrDomainNotFound, "ERROR_DOMAIN_NOTFOUND", "ERROR_DOMAIN_NOTFOUND (-21): domain not found"},
		{ErrNotFound, "ERROR_NOTFOUND", "ERROR_NOTFOUND (-23): not found"},
		{ErrQEMUAPI, "ERROR_QEMU_API", "ERROR_QEMU_API (-32): QEMU API error"},
		{Error(-99), "ERROR_UNKNOWN(-99)", "ERROR_UNKNOWN(-99) (-99): unknown libxl error"},
	} {
		if got := tc.e.Name(); got != tc.name {
			t.Errorf("Error(%d).Name() = %q, want %q", int(tc.e), got, tc.name)
		}
		if got := tc.e.Error(); got != tc.text {
			t.Errorf("Error(%d).Error() = %q, want %q", int(tc.e), got, tc.text)
		}
	}
}

func TestErrorTableComplete(t *testing.T) {
	// Every code from -1 to -32 is known, with a distinct name.
	seen := map[string]bool{}
	for code := -1; code >= -32; code-- {
		e := Error(code)
		if strings.HasPrefix(e.Name(), "ERROR_UNKNOWN(") {
			t.Errorf("code %d has no name", code)
		}
		if seen[e.Name()] {
			t.Errorf("name %s used twice", e.Name())
		}
		seen[e.Name()] = true
	}
	if len(errorText) != 32 {
		t.Errorf("errorText has %d codes, libxl 4.17 has 32", len(errorText))
	}
}

func TestErrorIsThroughWrapping(t *testing.T) {
	ce := &CallError{Func: "libxl_domain_info", Err: Error(-21)}
	err := fmt.Errorf("domain 7: %w", ce)
	if !errors.Is(err, ErrDomainNotFound) {
		t.Errorf("errors.Is(%v, ErrDomainNotFound) = false", err)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrFail) {
		t.Errorf("%v matches a different code", err)
	}
	var code Error
	if !errors.As(err, &code) || code != ErrDomainNotFound {
		t.Errorf("errors.As gives %v", code)
	}
	if errors.Is(err, ErrNoHypervisor) {
		t.Errorf("a libxl code matches ErrNoHypervisor")
	}
}

func TestCallErrorText(t *testing.T) {
	for _, tc := range []struct {
		ce   *CallError
		want string
	}{
		{&CallError{Func: "libxl_device_pci_add", Err: ErrFail,
			Log: []string{"libxl: PCI device 0:0:1f.2 is not assignable", "libxl: libxl__device_pci_add failed for PCI device 0:0:1f.2 (rc -3)"}},
			"libxl_device_pci_add: ERROR_FAIL (-3): failed; libxl: PCI device 0:0:1f.2 is not assignable"},
		{&CallError{Func: "libxl_get_physinfo", Err: ErrFail}, "libxl_get_physinfo: ERROR_FAIL (-3): failed"},
		{&CallError{Func: "xc_domain_get_pod_target", Err: syscall.EPERM}, "xc_domain_get_pod_target: operation not permitted"},
		{&CallError{Func: "xc_interface_open"}, "xc_interface_open: failed"},
	} {
		if got := tc.ce.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	err := fmt.Errorf("pod: %w", &CallError{Func: "xc", Err: syscall.EPERM})
	if !errors.Is(err, syscall.EPERM) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("errno not reachable through CallError")
	}
}
