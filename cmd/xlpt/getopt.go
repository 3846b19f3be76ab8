package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// getoptArgs reorders a command line the way xl's getopt does, so that
// urfave/cli (which stops at the first positional argument) sees every
// flag: "pci-detach web01 03:00.0 -f" becomes "pci-detach -f web01
// 03:00.0". Flags may come before, between or after the positional
// arguments; "--" ends them, and what follows is positional even if it
// starts with '-'. A global flag given after the command name (xlpt
// check --sysfs-root R) moves before it. Anything that is not an xlpt
// command line (help, an unknown command, shell completion) is left as
// it is for urfave/cli to handle.
func getoptArgs(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args
	}
	global := flagTable(app.Flags)
	var globals []string
	i := 1
	for i < len(args) && isFlag(args[i]) {
		n := flagLen(global, args, i)
		globals = append(globals, args[i:i+n]...)
		i += n
	}
	if i >= len(args) {
		return args
	}
	cmd := findCommand(app.Commands, args[i])
	if cmd == nil {
		return args
	}
	path := []string{args[i]}
	rest := args[i+1:]
	var moved []string
	// Descend through subcommands (cfg check, rdm list): the first
	// positional argument of a parent command names the child.
	for len(cmd.Subcommands) > 0 {
		flags, glob, at := upToPositional(flagTable(cmd.Flags), global, rest)
		if at >= len(rest) {
			return args
		}
		sub := findCommand(cmd.Subcommands, rest[at])
		if sub == nil {
			return args
		}
		moved = append(moved, glob...)
		path = append(append(path, flags...), rest[at])
		rest, cmd = rest[at+1:], sub
	}
	flags, pos, glob := permute(flagTable(cmd.Flags), global, rest)
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
	return append(out, pos...)
}

// permute splits a command's arguments into its flags (with their
// values), its positional arguments, and global flags given after the
// command name.
func permute(own, global map[string]bool, args []string) (flags, pos, moved []string) {
	for i := 0; i < len(args); {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(pos, args[i+1:]...), moved
		case !isFlag(a):
			pos = append(pos, a)
			i++
		default:
			name := flagName(a)
			_, mine := own[name]
			_, glob := global[name]
			n := 1
			switch {
			case mine:
				n = flagLen(own, args, i)
				flags = append(flags, args[i:i+n]...)
			case glob:
				n = flagLen(global, args, i)
				moved = append(moved, args[i:i+n]...)
			default: // unknown: urfave/cli names it
				flags = append(flags, a)
			}
			i += n
		}
	}
	return flags, pos, moved
}

// flagTable maps every name of the flags (and -h/--help) to whether the
// flag takes a value.
func flagTable(fs []cli.Flag) map[string]bool {
	t := map[string]bool{"help": false, "h": false}
	for _, f := range fs {
		takes := false
		if v, ok := f.(interface{ TakesValue() bool }); ok {
			takes = v.TakesValue()
		}
		for _, n := range f.Names() {
			t[n] = takes
		}
	}
	return t
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

func flagName(a string) string {
	n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return n
}

// flagLen is how many arguments the flag at args[i] spans: two when it
// takes a value not given with '='.
func flagLen(t map[string]bool, args []string, i int) int {
	if t[flagName(args[i])] && !strings.Contains(args[i], "=") && i+1 < len(args) {
		return 2
	}
	return 1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
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
func upToPositional(own, global map[string]bool, args []string) (flags, moved []string, at int) {
	for at < len(args) && isFlag(args[at]) && args[at] != "--" {
		name := flagName(args[at])
		if _, mine := own[name]; !mine {
			if _, glob := global[name]; glob {
				n := flagLen(global, args, at)
				moved = append(moved, args[at:at+n]...)
				at += n
				continue
			}
		}
		n := flagLen(own, args, at)
		flags = append(flags, args[at:at+n]...)
		at += n
	}
	return flags, moved, at
}
