// Package plain says errors in plain words: a flag error of urfave/cli
// as the flag is typed, with what value it wants and the flag meant when
// a known one is close (FlagError, Nearest), and Go's wording of file
// and JSON errors as a person would say it (Error). It prints nothing:
// the command line puts its words where they go.
package plain

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// The flag package's words, as urfave/cli passes them on.
var (
	flagUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagBadValue  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([^:]+): (.*)$`)
	flagNoValue   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	flagTwoForms  = regexp.MustCompile(`^cannot use two forms of the same flag: (\S+) (\S+)$`)
)

// FlagError says a flag error of urfave/cli in plain words: the
// flag as it is typed (--bogus, -n), what value it wants, and the flag
// meant when a known one is close.
func FlagError(err error, flags []cli.Flag) error {
	msg := err.Error()
	if m := flagUndefined.FindStringSubmatch(msg); m != nil {
		s := fmt.Sprintf("unknown flag %s", Dashed(m[1]))
		if near := Nearest(m[1], flagNames(flags)); near != "" {
			s += fmt.Sprintf("; did you mean %s?", Dashed(near))
		}
		return errors.New(s)
	}
	if m := flagBadValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s %q: %s", Dashed(m[2]), m[1], wants(FindFlag(flags, m[2])))
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s needs a value: %s", Dashed(m[1]), wants(FindFlag(flags, m[1])))
	}
	if m := flagTwoForms.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s and %s are the same flag: give it once", Dashed(m[1]), Dashed(m[2]))
	}
	return err
}

// Dashed is a flag name as typed: -n, --name.
func Dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// FindFlag is the flag of flags that has name, or nil.
func FindFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func flagNames(flags []cli.Flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.Names()...)
	}
	return out
}

// wants says in words what value a flag takes.
func wants(f cli.Flag) string {
	switch f.(type) {
	case *cli.Uint64Flag, *cli.UintFlag:
		return "give a whole number, 0 or more"
	case *cli.IntFlag, *cli.Int64Flag:
		return "give a whole number"
	case *cli.Float64Flag:
		return "give a number"
	case *cli.DurationFlag:
		return "give a duration, e.g. 500ms, 30s or 2m"
	case *cli.BoolFlag:
		return "give true or false (or leave the value out)"
	}
	if f == nil {
		return "not a valid value"
	}
	return "give " + strings.ToLower(placeholderOf(f))
}

// placeholderOf is a flag's value placeholder in its usage (`FILE`), or
// "a value".
func placeholderOf(f cli.Flag) string {
	if u, ok := f.(interface{ GetUsage() string }); ok {
		if _, rest, ok := strings.Cut(u.GetUsage(), "`"); ok {
			if p, _, ok := strings.Cut(rest, "`"); ok {
				return "a " + p
			}
		}
	}
	return "a value"
}

// Nearest is the word of words closest to w, "" when none is close
// enough to be what was meant: at most a third of its letters apart
// (one for short words), or one contains the other.
func Nearest(w string, words []string) string {
	best, bestD := "", 0
	for _, c := range words {
		d := editDistance(w, c)
		if len(w) >= 4 && len(c) >= 4 && (strings.Contains(c, w) || strings.Contains(w, c)) {
			d = min(d, 1)
		}
		if d <= max(1, len(w)/3) && (best == "" || d < bestD || d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
