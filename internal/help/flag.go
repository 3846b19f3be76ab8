package help

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// FlagString is urfave/cli's flag line in help without defaults that
// say nothing ("(default: false)" on a switch or a counter, "(default:
// 0)" on a number whose usage says what 0 means) or that the usage
// already gives ("(default: memory) (default: 0)").
func FlagString(f cli.Flag) string {
	s := defaultFlagStringer(f)
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return s
	}
	def := d.GetDefaultText()
	if def == "" {
		return s
	}
	if !quietDefault(def, d.GetUsage()) {
		return s
	}
	tail := " (default: " + def + ")"
	if i := strings.LastIndex(s, tail); i >= 0 {
		s = s[:i] + s[i+len(tail):]
	}
	return s
}

var defaultFlagStringer = cli.FlagStringer

// quietDefault says whether a flag's default is left out of its help: a
// zero value, or a usage that names its default itself.
func quietDefault(def, usage string) bool {
	switch def {
	case "false", "0", "0s", `""`:
		return true
	}
	return strings.Contains(strings.ToLower(usage), "default")
}
