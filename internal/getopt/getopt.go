// Package getopt reads a urfave/cli command line the way xl's getopt
// does: flags before, between or after the positional arguments, "--"
// ending them, global flags after the command name, and a single-valued
// flag given twice refused. Args reorders the line into what urfave/cli
// (which stops at the first positional argument) reads; Repeated is the
// flag that may be given again without its values being split at commas.
package getopt

import (
	"flag"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// TwiceError refuses a flag that takes one value given twice: which one
// was meant would be a guess.
type TwiceError struct {
	Command       string // the command's full name ("rdm check"); "" for a global flag
	Flag          string // its first name, without dashes
	First, Second string // the two values
}

func (e *TwiceError) Error() string {
	return fmt.Sprintf("--%s given twice (%q and %q): give it once", e.Flag, e.First, e.Second)
}

// Args reorders a command line the way xl's getopt does, so that
// urfave/cli (which stops at the first positional argument) sees every
// flag: "pci-detach web01 03:00.0 -f" becomes "pci-detach -f web01
// 03:00.0". Flags may come before, between or after the positional
// arguments; "--" ends them, and what follows is positional even if it
// starts with '-'. A global flag given after the command name (xlpt
// check --sysfs-root R) moves before it; bundled short flags (-vv) are
// read as their letters. -h or --help anywhere asks for the command's
// help, whatever else is there. A flag that takes one value given twice
// is refused with a *TwiceError (and args as given).
// Anything that is not an xlpt command line (help, an unknown command,
// shell completion) is left as it is for urfave/cli to handle.
func Args(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args, nil
	}
	global := flagTable(app.Flags)
	seen := seenFlags{}
	var globals []string
	i := 1
	for i < len(args) && isFlag(args[i]) && args[i] != "--" {
		n := flagLen(global, args, i)
		if err := seen.add("", global, args[i:i+n]); err != nil {
			return args, err
		}
		globals = append(globals, args[i:i+n]...)
		i += n
	}
	if i >= len(args) {
		return args, nil
	}
	cmd := FindCommand(app.Commands, args[i])
	if cmd == nil {
		return args, nil
	}
	path := []string{args[i]}
	name := cmd.Name
	rest := args[i+1:]
	var moved []string
	// Descend through subcommands (cfg check, rdm list): the first
	// positional argument of a parent command names the child.
	for len(cmd.Subcommands) > 0 {
		own := flagTable(cmd.Flags)
		flags, glob, at := upToPositional(own, global, rest)
		if at >= len(rest) || helpAsked(flags) {
			return args, nil
		}
		sub := FindCommand(cmd.Subcommands, rest[at])
		if sub == nil {
			return args, nil
		}
		if err := seen.addAll(global, glob); err != nil {
			return args, err
		}
		moved = append(moved, glob...)
		path = append(append(path, flags...), rest[at])
		rest, cmd = rest[at+1:], sub
		name += " " + sub.Name
	}
	own := flagTable(cmd.Flags)
	flags, pos, glob := permute(own, global, rest)
	if helpAsked(flags) {
		// "pci-attach web01 --help 00:03.0" is a question about
		// pci-attach, not about a help topic "web01".
		return append(append([]string{args[0]}, path...), "--help"), nil
	}
	if err := seen.addAll(global, glob); err != nil {
		return args, err
	}
	if err := seen.addAll(own, flags, name); err != nil {
		return args, err
	}
	out := append([]string{args[0]}, globals...)
	out = append(append(out, moved...), glob...)
	out = append(out, path...)
	out = append(out, flags...)
	for _, p := range pos {
		if strings.HasPrefix(p, "-") && p != "-" {
			out = append(out, "--")
			break
		}
	}
	return append(out, pos...), nil
}

// permute splits a command's arguments into its flags (with their
// values), its positional arguments, and global flags given after the
// command name.
func permute(own, global map[string]flagSpec, args []string) (flags, pos, moved []string) {
	for i := 0; i < len(args); {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...), moved
		}
		if !isFlag(a) {
			pos = append(pos, a)
			i++
			continue
		}
		n := 1
		switch whose(own, global, a) {
		case ownFlag:
			n = flagLen(own, args, i)
			flags = append(flags, args[i:i+n]...)
		case globalFlag:
			n = flagLen(global, args, i)
			moved = append(moved, args[i:i+n]...)
		default: // unknown: the usage error names it
			flags = append(flags, a)
		}
		i += n
	}
	return flags, pos, moved
}

// flagSpec is what getopt needs to know of a flag.
type flagSpec struct {
	takesValue bool
	repeatable bool // a list (--rmrr, --pci, --map) or a counter (-v)
	name       string
}

// flagTable maps every name of the flags (and -h/--help) to its spec.
func flagTable(fs []cli.Flag) map[string]flagSpec {
	t := map[string]flagSpec{"help": {name: "help"}, "h": {name: "help"}}
	for _, f := range fs {
		s := flagSpec{name: f.Names()[0], repeatable: true}
		if v, ok := f.(interface{ TakesValue() bool }); ok && v.TakesValue() {
			s.takesValue = true
			switch f.(type) {
			case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.Uint64SliceFlag, *cli.Float64SliceFlag, *Repeated:
			default:
				s.repeatable = false
			}
		}
		for _, n := range f.Names() {
			t[n] = s
		}
	}
	return t
}

// Whose flag an argument is.
const (
	unknownFlag = iota
	ownFlag
	globalFlag
)

// whose says which table knows the flag a (the command's own first). A
// bundle of short flags (-vv, -fv) belongs to the table that knows every
// letter of it as a flag without a value.
func whose(own, global map[string]flagSpec, a string) int {
	name := flagName(a)
	if _, ok := own[name]; ok {
		return ownFlag
	}
	if _, ok := global[name]; ok {
		return globalFlag
	}
	if strings.HasPrefix(a, "--") || strings.Contains(a, "=") || len(name) < 2 {
		return unknownFlag
	}
	for i, t := range []map[string]flagSpec{own, global} {
		all := true
		for _, r := range name {
			s, ok := t[string(r)]
			all = all && ok && !s.takesValue
		}
		if all {
			return ownFlag + i
		}
	}
	return unknownFlag
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

func flagName(a string) string {
	n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return n
}

// flagLen is how many arguments the flag at args[i] spans: two when it
// takes a value not given with '='.
func flagLen(t map[string]flagSpec, args []string, i int) int {
	if t[flagName(args[i])].takesValue && !strings.Contains(args[i], "=") && i+1 < len(args) {
		return 2
	}
	return 1
}

// helpAsked says whether -h or --help is among flags.
func helpAsked(flags []string) bool {
	for _, f := range flags {
		if f == "-h" || f == "--help" || f == "-help" {
			return true
		}
	}
	return false
}

// FindCommand is the command of cmds that has name, or nil.
func FindCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// upToPositional splits the flags before a parent command's first
// positional argument (the subcommand name) into its own and global
// ones, and returns that argument's index.
func upToPositional(own, global map[string]flagSpec, args []string) (flags, moved []string, at int) {
	for at < len(args) && isFlag(args[at]) && args[at] != "--" {
		if whose(own, global, args[at]) == globalFlag {
			n := flagLen(global, args, at)
			moved = append(moved, args[at:at+n]...)
			at += n
			continue
		}
		n := flagLen(own, args, at)
		flags = append(flags, args[at:at+n]...)
		at += n
	}
	return flags, moved, at
}

// seenFlags counts the single-valued flags of one command line.
type seenFlags map[string]string

// addAll adds each flag of args (flags with their values) from table t;
// cmd names the command whose flags they are ("" global).
func (s seenFlags) addAll(t map[string]flagSpec, args []string, cmd ...string) error {
	for i := 0; i < len(args); {
		n := flagLen(t, args, i)
		if err := s.add(strings.Join(cmd, ""), t, args[i:i+n]); err != nil {
			return err
		}
		i += n
	}
	return nil
}

// add records one flag (and its value); a single-valued flag given
// before is refused, naming both values.
func (s seenFlags) add(cmd string, t map[string]flagSpec, arg []string) error {
	spec, ok := t[flagName(arg[0])]
	if !ok || spec.repeatable || !spec.takesValue {
		return nil
	}
	v := ""
	if _, after, ok := strings.Cut(arg[0], "="); ok {
		v = after
	} else if len(arg) > 1 {
		v = arg[1]
	}
	key := cmd + "\x00" + spec.name
	if prev, ok := s[key]; ok {
		return &TwiceError{Command: cmd, Flag: spec.name, First: prev, Second: v}
	}
	s[key] = v
	return nil
}

// Repeated is a repeatable string flag that, unlike StringSliceFlag, does
// not split its values at commas (PCI_SPEC_STRINGs and rmrr= have them).
// Each parse gets a fresh value, so that a command object reused across
// runs (tests) does not accumulate.
type Repeated struct{ cli.GenericFlag }

func (f *Repeated) Apply(set *flag.FlagSet) error {
	f.Value = &repeated{}
	return f.GenericFlag.Apply(set)
}

// Values are the values given to the Repeated flag name, in order.
func Values(c *cli.Context, name string) []string {
	if r, ok := c.Generic(name).(*repeated); ok && r != nil {
		return r.v
	}
	return nil
}

type repeated struct{ v []string }

func (r *repeated) Set(s string) error { r.v = append(r.v, s); return nil }
func (r *repeated) String() string {
	if r == nil {
		return ""
	}
	return strings.Join(r.v, " ")
}
