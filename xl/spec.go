package xl

import (
	"errors"
	"fmt"
	"strings"
)

// The xl PCI_SPEC_STRING grammar, as libxlutil 4.17 reads it
// (tools/libs/util/libxlu_pci.c):
//
//	[DDDD:]BB:DD.F[@VSLOT][,key=value...]    or    key=value[,key=value...]
//
// xlu's numbers go through glibc's sscanf("%x") and its booleans through
// atoi, so it accepts far more than the grammar says ("1: 2.0", "-0",
// "permissive=yes"; "0x1f" too, which is read as written) and reads some of it wrongly. parseXL below
// reproduces that reading exactly and notes every place where the reading
// differs from what the text plainly says; ParseSpec refuses those. The
// differential test against libxlutil keeps parseXL honest.

// ErrMalformedSpec is matched by every *SpecError.
var ErrMalformedSpec = errors.New("malformed PCI_SPEC_STRING")

// SpecError explains why a spec was refused. XL is set when libxlutil 4.17
// would have accepted the spec but read something other than what it says.
type SpecError struct {
	Spec   string
	Reason string
	XL     string
	// Undefined marks specs on which libxlutil 4.17's result is
	// undefined (it reads an uninitialised variable).
	Undefined bool
}

func (e *SpecError) Error() string {
	if e.XL != "" {
		return fmt.Sprintf("malformed PCI_SPEC_STRING %q: %s (xl %s would silently %s)", e.Spec, e.Reason, ParserQuirksIn, e.XL)
	}
	return fmt.Sprintf("malformed PCI_SPEC_STRING %q: %s", e.Spec, e.Reason)
}

func (e *SpecError) Is(target error) bool { return target == ErrMalformedSpec }

// Misread is one place where libxlutil's reading differs from the text.
type Misread struct {
	Reason string // what is wrong with the text
	XL     string // what xl (ParserQuirksIn) does with it instead
}

// ParseSpec parses a PCI_SPEC_STRING. It returns the same fields as
// libxlutil 4.17 for every spec that libxlutil reads as written, and a
// *SpecError for everything libxlutil rejects or misreads.
func ParseSpec(s string) (DevicePci, error) {
	d, misreads, err := ParseSpecXL(s)
	if err != nil {
		return d, err
	}
	if len(misreads) > 0 {
		m := misreads[0]
		return d, &SpecError{Spec: s, Reason: m.Reason, XL: m.XL}
	}
	return d, nil
}

// ParseSpecXL returns what libxlutil 4.17 (xlu_pci_parse_spec_string)
// reads from s, starting from libxl_device_pci_init's defaults, and the
// misreads it would commit on the way. err is non-nil exactly when
// libxlutil returns an error (or, for inputs where libxlutil reads
// uninitialised memory, where its result is undefined).
func ParseSpecXL(s string) (DevicePci, []Misread, error) {
	return parseSpecFrom(NewDevicePci(), s)
}

// ParseSpecFrom parses s on top of base, as xl does for pci = [...]
// entries: it first copies the guest's pci_permissive, pci_msitranslate,
// pci_power_mgmt, pci_seize and rdm policy into each device, and the spec
// overrides what it names. Errors and misreads are as for ParseSpec.
func ParseSpecFrom(base DevicePci, s string) (DevicePci, error) {
	d, misreads, err := parseSpecFrom(base, s)
	if err == nil && len(misreads) > 0 {
		err = &SpecError{Spec: s, Reason: misreads[0].Reason, XL: misreads[0].XL}
	}
	return d, err
}

func parseSpecFrom(base DevicePci, s string) (DevicePci, []Misread, error) {
	p := specParser{spec: s, d: base}
	err := p.parse()
	return p.d, p.misreads, err
}

type specParser struct {
	spec     string
	d        DevicePci
	misreads []Misread
	seen     map[string]bool
	items    map[string]string // when set, each key=value item read (SpecKeys)
}

func (p *specParser) fail(format string, a ...any) error {
	return &SpecError{Spec: p.spec, Reason: fmt.Sprintf(format, a...)}
}

func (p *specParser) misread(xl, format string, a ...any) {
	p.misreads = append(p.misreads, Misread{Reason: fmt.Sprintf(format, a...), XL: xl})
}

// once records a key and notes a duplicate: xlu lets the last one win.
func (p *specParser) once(key string) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[key] {
		p.misread("use the last one and ignore the earlier", "%s given twice", key)
	}
	p.seen[key] = true
}

func (p *specParser) parse() error {
	s := p.spec
	rest := s
	bdfPresent, namePresent := false, false

	// A positional BDF is optional: if it does not parse, xlu reads the
	// whole string as key=value pairs.
	b, tail, ok := p.bdf(s)
	if ok {
		if b.err != nil {
			return b.err
		}
		p.setBdf(b)
		p.once("bdf")
		bdfPresent = true
		rest = tail
		if strings.HasPrefix(rest, "@") {
			slot, tail, err := p.vslot(rest[1:], "@")
			if err != nil {
				return err
			}
			p.d.Vdevfn = uint32(slot) << 3
			p.once("vslot")
			rest = tail
		}
		switch {
		case strings.HasPrefix(rest, ","):
			rest = rest[1:]
		case rest != "":
			return p.fail("unexpected %q after the BDF (expected \"@VSLOT\" or \",key=value\")", rest)
		}
	}
	if err := p.keyValues(rest, &bdfPresent, &namePresent); err != nil {
		// xlu reports a broken positional BDF as a broken key=value;
		// say what the user actually got wrong.
		if first, _, _ := strings.Cut(s, ","); !ok && !strings.Contains(first, "=") {
			return p.fail("%q is not a BDF (expected [DDDD:]BB:DD.F[@VSLOT], hex, bus <= ff, device <= 1f, function 0-7 or *)", first)
		}
		return err
	}
	switch {
	case bdfPresent && namePresent:
		return p.fail("give either a BDF or name=, not both")
	case !bdfPresent && !namePresent:
		if s == "" {
			return p.fail("empty spec: give a BDF such as 0000:01:00.0, or name=NAME")
		}
		return p.fail("no BDF and no name= (expected [DDDD:]BB:DD.F[@VSLOT][,key=value...])")
	}
	return nil
}

func (p *specParser) keyValues(rest string, bdfPresent, namePresent *bool) error {
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return p.fail("%q is not key=value", rest)
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		val := rest
		if c := strings.IndexByte(rest, ','); c >= 0 {
			val, rest = rest[:c], rest[c+1:]
		} else {
			rest = ""
		}
		if err := p.option(key, val, bdfPresent, namePresent); err != nil {
			return err
		}
	}
	return nil
}

func (p *specParser) option(key, val string, bdfPresent, namePresent *bool) error {
	if p.items != nil {
		p.items[key] = key + "=" + val
	}
	switch key {
	case "bdf":
		b, tail, ok := p.bdf(val)
		if !ok || b.err != nil {
			if ok {
				return b.err
			}
			return p.fail("bdf=%q is not a BDF ([DDDD:]BB:DD.F)", val)
		}
		if tail != "" {
			p.misread(fmt.Sprintf("ignore %q", tail), "junk %q after bdf=%s", tail, strings.TrimSuffix(val, tail))
		}
		p.setBdf(b)
		p.once("bdf")
		*bdfPresent = true
	case "vslot":
		slot, tail, err := p.vslot(val, "vslot=")
		if err != nil {
			return err
		}
		if tail != "" {
			p.misread(fmt.Sprintf("ignore %q", tail), "junk %q after vslot=%s", tail, strings.TrimSuffix(val, tail))
		}
		p.d.Vdevfn = uint32(slot) << 3
		p.once("vslot")
	case "permissive":
		p.d.Permissive = p.boolean(key, val)
	case "msitranslate":
		p.d.Msitranslate = p.boolean(key, val)
	case "seize":
		p.d.Seize = p.boolean(key, val)
	case "power_mgmt":
		p.d.PowerMgmt = p.boolean(key, val)
	case "rdm_policy":
		// libxl_rdm_reserve_policy_from_string: case-insensitive, and
		// "invalid" is a valid name for "unset".
		switch strings.ToLower(val) {
		case "strict":
			p.d.RdmPolicy = RdmPolicyStrict
		case "relaxed":
			p.d.RdmPolicy = RdmPolicyRelaxed
		case "invalid":
			p.d.RdmPolicy = RdmPolicyInvalid
			p.misread("treat it as unset (libxl then applies strict)", "rdm_policy=%s is not a policy (use strict or relaxed)", val)
		default:
			return p.fail("unknown rdm_policy %q (use strict or relaxed)", val)
		}
		p.once("rdm_policy")
	case "name":
		p.d.Name = val
		p.once("name")
		*namePresent = true
	default:
		return p.fail("unknown option %q (known: bdf, vslot, permissive, msitranslate, seize, power_mgmt, rdm_policy, name)", key)
	}
	return nil
}

// boolean reads val as xlu does (atoi, then C's int-to-bool) and notes
// anything but a plain 0 or 1.
func (p *specParser) boolean(key, val string) bool {
	v := cAtoi(val) != 0
	if val != "0" && val != "1" {
		p.misread(fmt.Sprintf("read it as %s=%d", key, b2i(v)), "%s=%q is not 0 or 1", key, val)
	}
	p.once(key)
	return v
}

type bdfResult struct {
	domain, bus, dev, fn uint32
	all                  bool
	err                  error
}

func (p *specParser) setBdf(b bdfResult) {
	p.d.Domain, p.d.Bus, p.d.Dev, p.d.Func = uint16(b.domain), uint8(b.bus), uint8(b.dev), uint8(b.fn)
	if b.all {
		p.d.VfuncMask = FuncAll
	} else {
		p.d.VfuncMask = 1
	}
}

// bdf reproduces xlu's parse_bdf on s. ok is false when xlu's parse_bdf
// fails; b.err is set (with ok true) when xlu would accept, or fail in a
// way that deserves a specific message, but the text is not what it seems.
// tail is what follows the BDF.
func (p *specParser) bdf(s string) (b bdfResult, tail string, ok bool) {
	// xlu counts the colons in the leading run of hex digits and colons.
	colons := 0
	for i := 0; i < len(s) && (isXDigit(s[i]) || s[i] == ':'); i++ {
		if s[i] == ':' {
			colons++
		}
	}
	var nums []uint32
	want := 0
	switch colons {
	case 1:
		want = 2
	case 2:
		want = 3
	default:
		return b, "", false
	}
	sc := cScanner{s: s}
	for i := 0; i < want; i++ {
		v, ok := sc.hex()
		if !ok {
			return b, "", false
		}
		nums = append(nums, v)
		sep := byte(':')
		if i == want-1 {
			sep = '.'
		}
		if !sc.lit(sep) {
			if i == want-1 {
				// sscanf returned its full count but never reached %n:
				// xlu then advances by an uninitialised int.
				b.err = &SpecError{Spec: p.spec, Undefined: true,
					Reason: fmt.Sprintf("no \".FUNCTION\" after %q (xl %s reads uninitialised memory here)", s[:sc.pos], ParserQuirksIn)}
				return b, "", true
			}
			return b, "", false
		}
	}
	if want == 2 {
		nums = append([]uint32{0}, nums...)
	}
	b.domain, b.bus, b.dev = nums[0], nums[1], nums[2]
	if b.domain > 0xffff || b.bus > 0xff || b.dev > 0x1f {
		return b, "", false
	}
	if sc.pos < len(s) && s[sc.pos] == '*' {
		b.all = true
		sc.pos++
	} else {
		v, ok := sc.hex()
		if !ok || v > 7 {
			return b, "", false
		}
		b.fn = v
	}
	for _, m := range sc.odd {
		p.misread(m.XL, "%s", m.Reason)
	}
	return b, s[sc.pos:], true
}

// vslot reproduces xlu's parse_vslot.
func (p *specParser) vslot(s, what string) (uint8, string, error) {
	sc := cScanner{s: s}
	v, ok := sc.hex()
	if !ok {
		return 0, "", p.fail("%s%s: the virtual slot must be hex 1-1f", what, s)
	}
	if v > 0x1f {
		return 0, "", p.fail("%s%s: virtual slot 0x%x is out of range (1-1f)", what, s[:sc.pos], v)
	}
	for _, m := range sc.odd {
		p.misread(m.XL, "%s", m.Reason)
	}
	if v == 0 {
		p.misread("let the device model choose the slot", "%s%s: slot 0 cannot be requested", what, s[:sc.pos])
	}
	return uint8(v), s[sc.pos:], nil
}

// cScanner reads numbers the way glibc's sscanf("%x") does, and notes
// every liberty it takes (white space, sign, wrap-around). A "0x" prefix
// is no liberty: "@0x7" means slot 7 to xl and to the reader alike.
type cScanner struct {
	s   string
	pos int
	odd []Misread
}

func (c *cScanner) lit(b byte) bool {
	if c.pos < len(c.s) && c.s[c.pos] == b {
		c.pos++
		return true
	}
	return false
}

// hex is glibc's %x into an unsigned int: skip white space, optional sign,
// optional 0x (a bare "0x" reads as 0), hex digits, strtoul's saturation,
// then truncation to 32 bits.
func (c *cScanner) hex() (uint32, bool) {
	start := c.pos
	s := c.s
	i := c.pos
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	signed := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg, signed = s[i] == '-', true
		i++
	}
	digits := 0
	var v uint64
	over := false
	prefixed := false
	if i < len(s) && s[i] == '0' {
		digits++
		i++
		if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
			prefixed = true
			i++
		}
	}
	for i < len(s) && isXDigit(s[i]) {
		d := uint64(hexVal(s[i]))
		if v > (^uint64(0)-d)/16 {
			over = true
		}
		v = v*16 + d
		digits++
		i++
	}
	if digits == 0 {
		return 0, false
	}
	c.pos = i
	if over {
		v = ^uint64(0)
	} else if neg {
		v = -v
	}
	r := uint32(v)
	text := s[start:i]
	switch {
	case text != strings.TrimLeft(text, " \t\n\v\f\r"):
		c.odd = append(c.odd, Misread{Reason: fmt.Sprintf("white space in number %q", text), XL: fmt.Sprintf("read it as 0x%x", r)})
	case signed:
		c.odd = append(c.odd, Misread{Reason: fmt.Sprintf("signed number %q", text), XL: fmt.Sprintf("read it as 0x%x", r)})
	case prefixed && digits == 1:
		// "0x" with no digit after it: glibc reads the 0 and leaves the x.
		c.odd = append(c.odd, Misread{Reason: fmt.Sprintf("%q has no digits after \"0x\"", text), XL: fmt.Sprintf("read it as 0x%x", r)})
	case over || v > 0xffffffff:
		c.odd = append(c.odd, Misread{Reason: fmt.Sprintf("number %q overflows", text), XL: fmt.Sprintf("read it as 0x%x", r)})
	}
	return r, true
}

// cAtoi is glibc's atoi: strtol base 10 with saturation, truncated to int.
func cAtoi(s string) int32 {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var v uint64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (1<<63-d)/10 {
			over = true
		}
		v = v*10 + d
	}
	var l int64
	switch {
	case neg && (over || v > 1<<63):
		l = -1 << 63
	case neg:
		l = -int64(v)
	case over || v > 1<<63-1:
		l = 1<<63 - 1
	default:
		l = int64(v)
	}
	return int32(l)
}

func isXDigit(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func hexVal(b byte) byte {
	switch {
	case b >= 'a':
		return b - 'a' + 10
	case b >= 'A':
		return b - 'A' + 10
	}
	return b - '0'
}

func isCSpace(b byte) bool { return b == ' ' || b >= '\t' && b <= '\r' }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ParseBdf parses a bare BDF, [DDDD:]BB:DD.F or BB:DD.* (as
// pci-assignable-add takes it). Unlike xlu_pci_parse_bdf it refuses
// anything after the BDF, which xlu silently drops.
func ParseBdf(s string) (b PciBdf, allFuncs bool, err error) {
	p := specParser{spec: s}
	r, tail, ok := p.bdf(s)
	switch {
	case !ok:
		return b, false, &SpecError{Spec: s, Reason: "not a BDF (expected [DDDD:]BB:DD.F, hex, bus <= ff, device <= 1f, function <= 7 or *)"}
	case r.err != nil:
		return b, false, r.err
	case len(p.misreads) > 0:
		return b, false, &SpecError{Spec: s, Reason: p.misreads[0].Reason, XL: p.misreads[0].XL}
	case tail != "":
		return b, false, &SpecError{Spec: s, Reason: fmt.Sprintf("unexpected %q after the BDF", tail), XL: fmt.Sprintf("ignore %q", tail)}
	}
	return PciBdf{Domain: uint16(r.domain), Bus: uint8(r.bus), Dev: uint8(r.dev), Func: uint8(r.fn)}, r.all, nil
}

// Spec formats d as a canonical PCI_SPEC_STRING that ParseSpec reads back
// to d. Only the fields a spec can carry are written: a guest function
// (Vdevfn & 7) has no spec syntax and is dropped.
func (d DevicePci) Spec() string {
	var sb strings.Builder
	if d.Name != "" && d.VfuncMask == 0 {
		sb.WriteString("name=" + d.Name)
	} else {
		fn := fmt.Sprintf("%x", d.Func)
		if d.AllFuncs() {
			fn = "*"
		}
		fmt.Fprintf(&sb, "%04x:%02x:%02x.%s", d.Domain, d.Bus, d.Dev, fn)
		if d.VSlot() != 0 {
			fmt.Fprintf(&sb, "@%02x", d.VSlot())
		}
	}
	for _, o := range []struct {
		key string
		on  bool
	}{{"msitranslate", d.Msitranslate}, {"power_mgmt", d.PowerMgmt}, {"permissive", d.Permissive}, {"seize", d.Seize}} {
		if o.on {
			sb.WriteString("," + o.key + "=1")
		}
	}
	if d.RdmPolicy == RdmPolicyStrict || d.RdmPolicy == RdmPolicyRelaxed {
		sb.WriteString(",rdm_policy=" + d.RdmPolicy.String())
	}
	return sb.String()
}
