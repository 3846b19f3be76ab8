package xl

import (
	"errors"
	"fmt"
)

// Error is a libxl return code (the negative ERROR_* values of libxl.h).
// The codes are constants of this type, so errors.Is(err, ErrDomainNotFound)
// matches however deeply the code is wrapped.
type Error int

// The libxl 4.17 error codes (libxl_types.idl, enum libxl_error).
const (
	ErrNonspecific                  Error = -1
	ErrVersion                      Error = -2
	ErrFail                         Error = -3
	ErrNotImplemented               Error = -4
	ErrNoMem                        Error = -5
	ErrInval                        Error = -6
	ErrBadFail                      Error = -7
	ErrGuestTimedOut                Error = -8
	ErrTimedOut                     Error = -9
	ErrNoParavirt                   Error = -10
	ErrNotReady                     Error = -11
	ErrOseventRegFail               Error = -12
	ErrBufferFull                   Error = -13
	ErrUnknownChild                 Error = -14
	ErrLockFail                     Error = -15
	ErrJSONConfigEmpty              Error = -16
	ErrDeviceExists                 Error = -17
	ErrCheckpointDevopsDoesNotMatch Error = -18
	ErrCheckpointDeviceNotSupported Error = -19
	ErrVnumaConfigInvalid           Error = -20
	ErrDomainNotFound               Error = -21
	ErrAborted                      Error = -22
	ErrNotFound                     Error = -23
	ErrDomainDestroyed              Error = -24
	ErrFeatureRemoved               Error = -25
	ErrProtocolErrorQMP             Error = -26
	ErrUnknownQMPError              Error = -27
	ErrQMPGenericError              Error = -28
	ErrQMPCommandNotFound           Error = -29
	ErrQMPDeviceNotActive           Error = -30
	ErrQMPDeviceNotFound            Error = -31
	ErrQEMUAPI                      Error = -32
)

// errorText holds each code's libxl name and a short description.
var errorText = map[Error]struct{ name, desc string }{
	ErrNonspecific:                  {"ERROR_NONSPECIFIC", "unspecified error"},
	ErrVersion:                      {"ERROR_VERSION", "libxl API version mismatch"},
	ErrFail:                         {"ERROR_FAIL", "failed"},
	ErrNotImplemented:               {"ERROR_NI", "not implemented"},
	ErrNoMem:                        {"ERROR_NOMEM", "out of memory"},
	ErrInval:                        {"ERROR_INVAL", "invalid argument"},
	ErrBadFail:                      {"ERROR_BADFAIL", "failed, state may be inconsistent"},
	ErrGuestTimedOut:                {"ERROR_GUEST_TIMEDOUT", "guest did not respond in time"},
	ErrTimedOut:                     {"ERROR_TIMEDOUT", "timed out"},
	ErrNoParavirt:                   {"ERROR_NOPARAVIRT", "guest has no paravirtual drivers"},
	ErrNotReady:                     {"ERROR_NOT_READY", "not ready"},
	ErrOseventRegFail:               {"ERROR_OSEVENT_REG_FAIL", "event registration failed"},
	ErrBufferFull:                   {"ERROR_BUFFERFULL", "buffer full"},
	ErrUnknownChild:                 {"ERROR_UNKNOWN_CHILD", "unknown child process"},
	ErrLockFail:                     {"ERROR_LOCK_FAIL", "could not take a lock"},
	ErrJSONConfigEmpty:              {"ERROR_JSON_CONFIG_EMPTY", "stored domain configuration is empty"},
	ErrDeviceExists:                 {"ERROR_DEVICE_EXISTS", "device already exists"},
	ErrCheckpointDevopsDoesNotMatch: {"ERROR_CHECKPOINT_DEVOPS_DOES_NOT_MATCH", "checkpoint device ops do not match"},
	ErrCheckpointDeviceNotSupported: {"ERROR_CHECKPOINT_DEVICE_NOT_SUPPORTED", "checkpoint device not supported"},
	ErrVnumaConfigInvalid:           {"ERROR_VNUMA_CONFIG_INVALID", "invalid vNUMA configuration"},
	ErrDomainNotFound:               {"ERROR_DOMAIN_NOTFOUND", "domain not found"},
	ErrAborted:                      {"ERROR_ABORTED", "aborted"},
	ErrNotFound:                     {"ERROR_NOTFOUND", "not found"},
	ErrDomainDestroyed:              {"ERROR_DOMAIN_DESTROYED", "domain destroyed"},
	ErrFeatureRemoved:               {"ERROR_FEATURE_REMOVED", "feature removed"},
	ErrProtocolErrorQMP:             {"ERROR_PROTOCOL_ERROR_QMP", "QMP protocol error"},
	ErrUnknownQMPError:              {"ERROR_UNKNOWN_QMP_ERROR", "unknown QMP error"},
	ErrQMPGenericError:              {"ERROR_QMP_GENERIC_ERROR", "QMP command failed"},
	ErrQMPCommandNotFound:           {"ERROR_QMP_COMMAND_NOT_FOUND", "QMP command not found"},
	ErrQMPDeviceNotActive:           {"ERROR_QMP_DEVICE_NOT_ACTIVE", "QMP device not active"},
	ErrQMPDeviceNotFound:            {"ERROR_QMP_DEVICE_NOT_FOUND", "QMP device not found"},
	ErrQEMUAPI:                      {"ERROR_QEMU_API", "QEMU API error"},
}

// Name is the libxl name of the code, e.g. ERROR_DOMAIN_NOTFOUND, or
// ERROR_UNKNOWN(n) for a code this package does not know.
func (e Error) Name() string {
	if t, ok := errorText[e]; ok {
		return t.name
	}
	return fmt.Sprintf("ERROR_UNKNOWN(%d)", int(e))
}

// Error gives name, code and meaning: ERROR_DOMAIN_NOTFOUND (-21): domain not found.
func (e Error) Error() string {
	desc := "unknown libxl error"
	if t, ok := errorText[e]; ok {
		desc = t.desc
	}
	return fmt.Sprintf("%s (%d): %s", e.Name(), int(e), desc)
}

// Is matches the same code; with errors.Is it looks through wrapping.
func (e Error) Is(target error) bool {
	t, ok := target.(Error)
	return ok && t == e
}

// CallError is a failed call into libxl or libxenctrl: the C function, its
// result (an Error for libxl, a syscall.Errno for libxenctrl) and the
// error-level messages the library logged during the call. The messages are
// kept because the code alone ("failed") rarely tells the user what went
// wrong; libxl's own text ("PCI device 0:0:1f.2 is not assignable") does.
type CallError struct {
	Func string
	Err  error
	// Log holds "context: message" lines, oldest first, e.g.
	// "libxl: PCI device 0:0:1f.2 is not assignable".
	Log []string
}

// Error gives the function, the code and the first logged message, which is
// normally the most specific one: libxl logs the cause, then the generic
// "... failed" lines of its callers.
func (e *CallError) Error() string {
	s := e.Func + ": failed"
	if e.Err != nil {
		s = e.Func + ": " + e.Err.Error()
	}
	if len(e.Log) > 0 {
		s += "; " + e.Log[0]
	}
	return s
}

func (e *CallError) Unwrap() error { return e.Err }

// ErrNoHypervisor means libxl cannot be used on this machine: it is not a
// Xen dom0, xlpt is not running as root, or (through ErrNoLibxl) xlpt was
// built without libxl. The wrapping error names which.
var ErrNoHypervisor = errors.New("no Xen hypervisor")
