package rdm

import (
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// DefaultMemBoundaryMiB is rdm_mem_boundary's default
// (LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT, 2 GiB).
const DefaultMemBoundaryMiB = 2048

// Setting is a parsed rdm= value.
type Setting struct {
	// Reserve is what libxl should receive: Strategy is Ignore unless
	// given, Policy is Invalid unless given (libxl__rdm_setdefault then
	// makes it relaxed).
	Reserve     xl.RdmReserve
	StrategySet bool
	PolicySet   bool
}

// String gives the setting back in xl.cfg syntax.
func (s Setting) String() string {
	var p []string
	if s.StrategySet {
		p = append(p, "strategy="+s.Reserve.Strategy.String())
	}
	if s.PolicySet {
		p = append(p, "policy="+s.Reserve.Policy.String())
	}
	return strings.Join(p, ",")
}

// EffectivePolicy is the global policy libxl uses: relaxed when unset.
func (s Setting) EffectivePolicy() xl.RdmPolicy {
	if s.Reserve.Policy == xl.RdmPolicyInvalid {
		return xl.RdmPolicyRelaxed
	}
	return s.Reserve.Policy
}

// SettingError is a malformed rdm= value.
type SettingError struct {
	Value string
	Msg   string
}

func (e *SettingError) Error() string { return fmt.Sprintf("rdm=%q: %s", e.Value, e.Msg) }

// ParseRdm parses xl.cfg's rdm="strategy=host|ignore,policy=strict|relaxed"
// with the meaning the xl.cfg manual gives it, and refuses what xl would
// drop or misread: an empty value or item, an unknown key or value, a key
// given twice, spaces. Keys and strategies are matched exactly as
// libxlutil matches them (strcmp); policies ignore case, as
// libxl_rdm_reserve_policy_from_string does. strategy=ignore, which
// libxlutil does not know, is accepted here because it is libxl's own
// name for the default.
func ParseRdm(v string) (Setting, error) {
	s := Setting{Reserve: xl.RdmReserve{Strategy: xl.RdmStrategyIgnore, Policy: xl.RdmPolicyInvalid}}
	bad := func(f string, a ...any) (Setting, error) {
		return Setting{}, &SettingError{Value: v, Msg: fmt.Sprintf(f, a...)}
	}
	if v == "" {
		return bad("empty (give strategy= and/or policy=)")
	}
	for i, item := range strings.Split(v, ",") {
		if item == "" {
			return bad("empty item %d (stray comma)", i+1)
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return bad("%q is not key=value", item)
		}
		if strings.TrimSpace(key) != key || strings.TrimSpace(val) != val {
			return bad("spaces around %q (xl would not strip them)", item)
		}
		switch key {
		case "strategy":
			if s.StrategySet {
				return bad("strategy given twice")
			}
			switch val {
			case "host":
				s.Reserve.Strategy = xl.RdmStrategyHost
			case "ignore":
				s.Reserve.Strategy = xl.RdmStrategyIgnore
			default:
				return bad("unknown strategy %q (host or ignore)", val)
			}
			s.StrategySet = true
		case "policy":
			if s.PolicySet {
				return bad("policy given twice")
			}
			switch strings.ToLower(val) {
			case "strict":
				s.Reserve.Policy = xl.RdmPolicyStrict
			case "relaxed":
				s.Reserve.Policy = xl.RdmPolicyRelaxed
			default:
				return bad("unknown policy %q (strict or relaxed)", val)
			}
			s.PolicySet = true
		default:
			return bad("unknown key %q (strategy or policy)", key)
		}
	}
	return s, nil
}

// ParsePolicy parses a per-device rdm_policy= value like libxl does
// (case-insensitive strict or relaxed).
func ParsePolicy(v string) (xl.RdmPolicy, error) {
	switch strings.ToLower(v) {
	case "strict":
		return xl.RdmPolicyStrict, nil
	case "relaxed":
		return xl.RdmPolicyRelaxed, nil
	}
	return xl.RdmPolicyInvalid, fmt.Errorf("unknown RDM policy %q (strict or relaxed)", v)
}

// Xl417Result is what xl 4.17 does with an rdm= string.
type Xl417Result struct {
	// Rc is xlu_rdm_parse's return: 0, or ERROR_INVAL (-6).
	Rc int
	// Applied: xl copies the parsed struct into the domain config only when
	// Rc is 0; otherwise it drops the setting without a word.
	Applied bool
	// Strategy and Policy are what the domain config holds afterwards.
	// When not Applied they are libxl's defaults (ignore, and invalid,
	// which libxl turns into relaxed).
	Strategy xl.RdmStrategy
	Policy   xl.RdmPolicy
	// StrategyUninit and PolicyUninit: xl declared its libxl_rdm_reserve
	// without initialising it, and the parser never wrote this field, so
	// the value is whatever was on xl's stack.
	StrategyUninit bool
	PolicyUninit   bool
	// Stderr lists what libxlutil printed (XLU__PCI_ERR, no newline).
	Stderr []string
}

// Xl417Rdm replays xl 4.17's handling of rdm=v: libxlutil's xlu_rdm_parse
// (tools/libs/util/libxlu_pci.c) followed by parse_config_data
// (tools/xl/xl_parse.c). The 4.17 parser inverts the result of
// parse_rdm_policy, so every valid policy is an error, and xl ignores the
// error silently; an invalid policy is printed and then accepted; a
// strategy other than "host" is an error; and on success xl copies fields
// the parser never set from an uninitialised variable.
//
// It is one piece on purpose: it mirrors xlu_rdm_parse's state machine
// statement by statement, so it can be read against the C side by side.
func Xl417Rdm(v string) Xl417Result {
	const errorInval = -6
	// C sees the string up to its first NUL.
	if i := strings.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	const (
		stType = iota
		stStrategy
		stPolicy
		stTerminal
	)
	var r Xl417Result
	strategySet := false
	state := stType
	tok := 0
	fail := func() Xl417Result {
		return Xl417Result{Rc: errorInval, Strategy: xl.RdmStrategyIgnore, Policy: xl.RdmPolicyInvalid, Stderr: r.Stderr}
	}
	// The C loop visits every byte and the terminating NUL (ptr < end,
	// end = str + strlen + 1); i == len(v) stands for the NUL.
	for i := 0; i <= len(v); i++ {
		var c byte
		if i < len(v) {
			c = v[i]
		}
		switch state {
		case stType:
			if c == '=' {
				switch v[tok:i] {
				case "strategy":
					state = stStrategy
				case "policy":
					state = stPolicy
				default:
					r.Stderr = append(r.Stderr, "Unknown RDM state option: "+v[tok:i])
					return fail()
				}
				tok = i + 1
			}
		case stStrategy:
			if c == 0 || c == ',' {
				if c == ',' {
					state = stType
				} else {
					state = stTerminal
				}
				if v[tok:i] != "host" {
					r.Stderr = append(r.Stderr, "Unknown RDM strategy option: "+v[tok:i])
					return fail()
				}
				strategySet = true
				tok = i + 1
			}
		case stPolicy:
			if c == ',' || c == 0 {
				if c == ',' {
					state = stType
				} else {
					state = stTerminal
				}
				if libxlPolicyKnown(v[tok:i]) {
					// if (!parse_rdm_policy(...)) goto parse_error: success
					// (0) is taken for failure.
					return fail()
				}
				r.Stderr = append(r.Stderr, "Unknown RDM policy: "+v[tok:i])
				tok = i + 1
			}
		}
	}
	// After the loop ptr is one past the NUL.
	if tok != len(v)+1 || state != stTerminal {
		return fail()
	}
	r.Applied = true
	if strategySet {
		r.Strategy = xl.RdmStrategyHost
	} else {
		r.StrategyUninit = true
	}
	// A valid policy never gets here and an invalid one is not stored.
	r.PolicyUninit = true
	return r
}

// Xl417Warning compares our reading of rdm=v with xl 4.17's and says, in
// one sentence, what xl would do differently; "" when they agree. It is
// meant for the CLI to print next to a setting that parsed fine here.
func Xl417Warning(v string) string {
	ours, err := ParseRdm(v)
	x := Xl417Rdm(v)
	switch {
	case !x.Applied && err == nil && (ours.StrategySet && ours.Reserve.Strategy == xl.RdmStrategyHost || ours.PolicySet):
		return fmt.Sprintf("xl %s silently drops rdm=%q (its parser rejects every valid policy=): the guest gets strategy=ignore and pci devices default to rdm_policy=strict; set rdm_policy= on each pci entry instead", xl.ParserQuirksIn, v)
	case !x.Applied && err != nil:
		return fmt.Sprintf("xl %s silently drops rdm=%q as well", xl.ParserQuirksIn, v)
	case x.Applied && x.StrategyUninit:
		return fmt.Sprintf("xl %s accepts rdm=%q but takes strategy and policy from uninitialised memory; the result is unpredictable", xl.ParserQuirksIn, v)
	case x.Applied && x.PolicyUninit:
		return fmt.Sprintf("xl %s applies strategy=host from rdm=%q but copies an uninitialised global policy into the guest and into every pci entry without rdm_policy=: "+
			"if it happens to be 0 that is strict, 1 relaxed, and any other value makes libxl fail the device with \"unknown rdm check flag.\"; set rdm_policy= on each pci entry", xl.ParserQuirksIn, v)
	}
	return ""
}

// libxlPolicyKnown is libxl_rdm_reserve_policy_from_string's acceptance:
// every name of the enum, case-insensitive, including "invalid".
func libxlPolicyKnown(v string) bool {
	switch strings.ToLower(v) {
	case "strict", "relaxed", "invalid":
		return true
	}
	return false
}
