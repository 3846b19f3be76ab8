package rdm

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// Limits of Xen's rmrr= option (xen/drivers/passthrough/vtd/dmar.c).
const (
	MaxUserRMRR      = 10 // MAX_USER_RMRR: ranges
	MaxUserRMRRDev   = 20 // MAX_USER_RMRR_DEV: devices per range
	MaxUserRMRRPages = 16 // MAX_USER_RMRR_PAGES: end-start must stay below it
	// xenOptMax is the size of the buffer Xen copies one command-line
	// option into (char opt[128] in parse_params): longer options are cut.
	xenOptMax = 127
)

// UserRMRR is one range of the rmrr= option: pages StartPFN..EndPFN
// inclusive, and the devices that use it.
type UserRMRR struct {
	StartPFN, EndPFN uint64
	Devices          []xl.PciBdf
	// Problem is set when Xen parses the range but then refuses to add it
	// (add_one_user_rmrr): inverted, too large, mixed segments. Such a
	// range is not reserved by Xen.
	Problem string
}

// Region converts the range into a region, as Xen registers it
// (base StartPFN<<12, end (EndPFN<<12)|0xfff).
func (u UserRMRR) Region() Region {
	r := Region{StartPFN: u.StartPFN, Devices: append([]xl.PciBdf(nil), u.Devices...), Sources: []Source{SourceCmdline}}
	if u.EndPFN >= u.StartPFN {
		r.NrPages = u.EndPFN - u.StartPFN + 1
	}
	return r
}

// RMRRError is an rmrr= value Xen's parser rejects. Xen keeps the ranges it
// completed before the bad character (Ranges) and logs
// `parameter "rmrr" has invalid value`.
type RMRRError struct {
	Value  string
	Offset int
	Msg    string
	Ranges []UserRMRR
}

func (e *RMRRError) Error() string {
	return fmt.Sprintf("rmrr=%s: at offset %d: %s", e.Value, e.Offset, e.Msg)
}

// ParseXenRMRR parses the value of Xen's rmrr= boot option the way
// parse_rmrr_param does:
//
//	start[-end]=[s1]bdf1[,[s1]bdf2[,...]];start[-end]=...
//
// Pages are hexadecimal PFNs ("0x" optional), the range is inclusive, a
// device is [seg:]bus:dev.func with hex segment, bus and device and a C
// integer function ("07" octal, "0x7" hex). A device without a segment
// takes the first device's (segment 0 for the first one). A range with no
// "=devices" part is accepted and ignored, as Xen does. Ranges Xen parses
// but will not register carry a Problem.
func ParseXenRMRR(v string) ([]UserRMRR, error) { return parseXenRMRR(v, 0) }

// parseXenRMRR parses one rmrr= value when already ranges are registered
// by earlier occurrences (Xen's nr_rmrr is global).
func parseXenRMRR(v string, already int) ([]UserRMRR, error) {
	var out []UserRMRR
	s := v
	pos := 0
	fail := func(msg string, a ...any) error {
		return &RMRRError{Value: v, Offset: pos, Msg: fmt.Sprintf(msg, a...), Ranges: out}
	}
	for {
		if already+len(out) >= MaxUserRMRR {
			return out, fail("more than %d ranges (E2BIG)", MaxUserRMRR)
		}
		start, n := strtoul(s[pos:], 16)
		if n == 0 {
			return out, fail("expected a start page number")
		}
		pos += n
		end := start
		if pos < len(s) && s[pos] == '-' {
			pos++
			end, n = strtoul(s[pos:], 16)
			if n == 0 {
				return out, fail("expected an end page number after '-'")
			}
			pos += n
		}
		u := UserRMRR{StartPFN: start, EndPFN: end}
		if pos < len(s) && s[pos] == '=' {
			firstSeg, haveFirst := uint16(0), false
			for {
				pos++ // skip '=' or ','
				d, defSeg, n, ok := parsePCISeg(s[pos:])
				if !ok {
					return out, fail("expected a PCI device [seg:]bus:dev.func")
				}
				pos += n
				if haveFirst && defSeg {
					d.Domain = firstSeg
				}
				if !haveFirst {
					firstSeg, haveFirst = d.Domain, true
				} else if d.Domain != firstSeg && u.Problem == "" {
					u.Problem = fmt.Sprintf("segments are not equal (%04x and %04x): Xen does not add the range", firstSeg, d.Domain)
				}
				u.Devices = append(u.Devices, d)
				if pos >= len(s) || s[pos] != ',' || len(u.Devices) >= MaxUserRMRRDev {
					break
				}
			}
			switch {
			case u.Problem != "":
			case start > end:
				u.Problem = fmt.Sprintf("invalid range [%x-%x]: Xen does not add it", start, end)
			case end-start >= MaxUserRMRRPages:
				u.Problem = fmt.Sprintf("range [%x-%x] exceeds %d pages: Xen does not add it", start, end, MaxUserRMRRPages)
			}
			out = append(out, u)
		}
		if pos < len(s) && s[pos] == ';' {
			pos++
			continue
		}
		if pos < len(s) {
			return out, fail("unexpected %q", s[pos])
		}
		return out, nil
	}
}

// strtoul is Xen's simple_strtoul (xen/common/vsprintf.c) on a Go string,
// bases 16 and 0 only. Base 16 skips a "0x" prefix; base 0 reads a leading
// 0 as octal, or 0x followed by a hex digit as hex. It wraps on overflow as
// the C code does. n is the number of bytes consumed (Xen's endp - cp).
func strtoul(s string, base int) (v uint64, n int) {
	i := 0
	switch base {
	case 0:
		base = 10
		if i < len(s) && s[i] == '0' {
			base = 8
			i++
			if i+1 < len(s) && (s[i] == 'x' || s[i] == 'X') && isHex(s[i+1]) {
				i++
				base = 16
			}
		}
	case 16:
		if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
			i = 2
		}
	}
	for ; i < len(s); i++ {
		d := digit(s[i])
		if d < 0 || d >= base {
			break
		}
		v = v*uint64(base) + uint64(d)
	}
	return v, i
}

func isHex(c byte) bool { return digit(c) >= 0 && digit(c) < 16 }

func digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parsePCISeg is Xen's parse_pci_seg with a function required:
// [seg:]bus:dev.func, hex seg/bus/dev, C-integer func, range checked.
func parsePCISeg(s string) (d xl.PciBdf, defSeg bool, n int, ok bool) {
	seg, i := strtoul(s, 16)
	// Xen does not check that a digit was read; an empty number is 0.
	if i >= len(s) || s[i] != ':' {
		return d, false, 0, false
	}
	i++
	bus, k := strtoul(s[i:], 16)
	i += k
	var dev uint64
	if i < len(s) && s[i] == ':' {
		i++
		dev, k = strtoul(s[i:], 16)
		i += k
	} else {
		dev, bus, seg, defSeg = bus, seg, 0, true
	}
	if i >= len(s) || s[i] != '.' {
		return d, false, 0, false
	}
	i++
	fn, k := strtoul(s[i:], 0)
	i += k
	if seg > 0xffff || bus > 0xff || dev > 0x1f || fn > 7 {
		return d, false, 0, false
	}
	return xl.PciBdf{Domain: uint16(seg), Bus: uint8(bus), Dev: uint8(dev), Func: uint8(fn)}, defSeg, i, true
}

// CmdlineRMRR is what the hypervisor command line says about rmrr=.
type CmdlineRMRR struct {
	// Values are the rmrr= option values in command-line order (Xen runs
	// the handler once per occurrence and the ranges accumulate).
	Values []string
	// Ranges are the ranges Xen keeps, in order.
	Ranges []UserRMRR
	// Errors are the occurrences Xen rejects (it keeps their ranges
	// parsed before the error) and options Xen truncates.
	Errors []error
}

// Regions gives the ranges Xen registers (no Problem) as regions.
func (c CmdlineRMRR) Regions() []Region {
	var out []Region
	for _, u := range c.Ranges {
		if u.Problem == "" {
			out = append(out, u.Region())
		}
	}
	return out
}

// RMRRFromCmdline finds the rmrr= options in the hypervisor's command line
// and parses them. The command line is the xen_commandline line of
// `xl info` (libxl_version_info.commandline, from XENVER_commandline);
// Linux's /sys/hypervisor has no copy of it, and hypfs only exposes
// runtime parameters, which rmrr= is not. Options are split at spaces as
// Xen splits them, and cut at 127 bytes as Xen cuts them.
func RMRRFromCmdline(cmdline string) CmdlineRMRR {
	var c CmdlineRMRR
	for _, opt := range strings.Split(cmdline, " ") {
		if !strings.HasPrefix(opt, "rmrr=") {
			continue
		}
		if len(opt) > xenOptMax {
			c.Errors = append(c.Errors, fmt.Errorf("option %.40q... is %d bytes: Xen only reads the first %d", opt, len(opt), xenOptMax))
			opt = opt[:xenOptMax]
		}
		v := strings.TrimPrefix(opt, "rmrr=")
		c.Values = append(c.Values, v)
		r, err := parseXenRMRR(v, len(c.Ranges))
		c.Ranges = append(c.Ranges, r...)
		if err != nil {
			c.Errors = append(c.Errors, err)
		}
	}
	return c
}
