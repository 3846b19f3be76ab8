package xl

import (
	"fmt"
	"strconv"
	"strings"
)

// The words around a spec on a command line: xm's -o options merged into
// it, xl's VSLOT argument, a device argument that is a BDF or a name, the
// functions of a slot, a list of BDFs in a message. One place for each, so
// no command reads them its own way.

// ArgError is malformed input around a spec (xm's -o, the VSLOT argument,
// a device argument). It matches ErrMalformedSpec: nothing was read or
// changed when it is returned.
type ArgError struct {
	Msg string
	Err error // the spec's own error, when there is one
}

func (e *ArgError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *ArgError) Unwrap() error        { return e.Err }
func (e *ArgError) Is(target error) bool { return target == ErrMalformedSpec }

func argErrorf(format string, a ...any) error { return &ArgError{Msg: fmt.Sprintf(format, a...)} }

// SpecKeys returns the key=value items a spec sets, by key, as written
// (the last, for a key given twice); the positional BDF and @VSLOT are not
// items. It reads the spec with the spec grammar, so a value is never
// taken for a key.
func SpecKeys(spec string) (map[string]string, error) {
	p := specParser{spec: spec, d: NewDevicePci(), items: map[string]string{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.items, nil
}

// MergeOptions appends xm's -o KEY=VALUE[,...] to a spec, as the VT-d
// howto writes pci-attach; a key set in both is refused naming both,
// since which one wins would be a guess.
func MergeOptions(spec, opts string) (string, error) {
	if opts == "" {
		return spec, nil
	}
	set, err := SpecKeys(spec)
	if err != nil {
		return "", err
	}
	for _, kv := range strings.Split(opts, ",") {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", argErrorf("-o %q: options are KEY=VALUE[,KEY=VALUE...]", opts)
		}
		if given, ok := set[k]; ok {
			return "", argErrorf("%s given twice: %q in the spec %q and %q in -o", k, given, spec, kv)
		}
	}
	if _, err := ParseSpec(spec + "," + opts); err != nil {
		return "", &ArgError{Msg: fmt.Sprintf("-o %q", opts), Err: err}
	}
	return spec + "," + opts, nil
}

// ParseSpecSlot parses a spec with xl's optional VSLOT argument after it
// (hex, as xl's @VSLOT: "7", "07" and "0x7" are slot 7).
func ParseSpecSlot(spec, vslot string) (DevicePci, error) {
	d, err := ParseSpec(spec)
	if err != nil || vslot == "" {
		return d, err
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(vslot, "0x"), "0X")
	if d.VSlot() != 0 && !strings.EqualFold(fmt.Sprintf("%x", d.VSlot()), strings.TrimLeft(digits, "0")) {
		return d, argErrorf("virtual slot given twice: %q in the spec and %q as VSLOT", spec, vslot)
	}
	slot, err := strconv.ParseUint(digits, 16, 8)
	if err != nil || slot == 0 || slot > 0x1f {
		return d, argErrorf("VSLOT %q: a guest slot is hex 1-1f (as xl's @VSLOT)", vslot)
	}
	d.Vdevfn = Vdevfn(uint8(slot), 0)
	return d, nil
}

// ParseFunction reads one function's BDF; BB:DD.* is refused.
func ParseFunction(s string) (PciBdf, error) {
	b, all, err := ParseBdf(s)
	if err == nil && all {
		err = argErrorf("%q: name one function", s)
	}
	return b, err
}

// ParseDeviceArg reads a device argument as xl's pci-assignable-remove
// does: one function's BDF if it parses as one, else a device name.
// Names have no ':', so text with one that does not parse is a mistyped
// BDF, refused as such.
func ParseDeviceArg(s string) (DevicePci, error) {
	d := NewDevicePci()
	b, err := ParseFunction(s)
	switch {
	case err == nil:
		d.PciBdf, d.VfuncMask = b, 1
	case strings.Contains(s, ":"):
		return d, err
	default:
		d.Name = s
	}
	return d, nil
}

// Functions is the eight functions of b's slot, function 0 first.
func (b PciBdf) Functions() []PciBdf {
	out := make([]PciBdf, 8)
	for f := range out {
		out[f] = b
		out[f].Func = uint8(f)
	}
	return out
}

// JoinBdfs lists BDFs for a message: "0000:01:00.0, 0000:01:00.1".
func JoinBdfs(bs []PciBdf) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// Describe names the device a spec names: its BDF, or its name= for one
// named at pci-assignable-add time.
func (d DevicePci) Describe() string {
	if d.VfuncMask == 0 {
		return fmt.Sprintf("the device named %q", d.Name)
	}
	return d.PciBdf.String()
}

// SameDevice says whether two specs name the same host device (a slot's
// BB:DD.* covers each of its functions; names match names).
func (d DevicePci) SameDevice(o DevicePci) bool {
	if d.VfuncMask == 0 || o.VfuncMask == 0 {
		return d.VfuncMask == o.VfuncMask && d.Name == o.Name
	}
	if d.AllFuncs() || o.AllFuncs() {
		return d.PciBdf.Slot() == o.PciBdf.Slot()
	}
	return d.PciBdf == o.PciBdf
}
