package clidoc

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Completion says what the generated script offers beyond command and
// flag names.
type Completion struct {
	// Helpers are bash functions the Words commands call; they are copied
	// into the script as they are.
	Helpers string
	// Words returns the bash command that prints the candidates for the
	// positional argument shown as placeholder in cmd's ArgsUsage ("DOMAIN",
	// "BDF|NAME"), or for the value of flag ("--driver"); cmd is the command
	// path ("pci-attach", "rdm list", "" for the global flags). "" offers
	// nothing; FilesWords and DirsWords complete paths.
	Words func(cmd, what string) string
	// GlobalFlagsAnywhere: the program takes its global flags after a
	// command name too (getopt-style permutation), so every command offers
	// them.
	GlobalFlagsAnywhere bool
}

// Candidates that complete paths instead of words.
const (
	FilesWords = "@files"
	DirsWords  = "@dirs"
)

// Bash renders a bash completion script for app (after app.Setup). It
// needs nothing but bash: no bash-completion helpers, no run of the
// program per keystroke. It completes command and subcommand names, each
// command's flags, and positional arguments and flag values through
// comp.Words.
func Bash(app *cli.App, comp Completion) string {
	g := bashGen{app: app, comp: comp, fn: "_" + strings.ReplaceAll(app.Name, "-", "_")}
	g.walk("", app.VisibleCommands(), app.Flags)
	return g.render()
}

type bashGen struct {
	app  *cli.App
	comp Completion
	fn   string // function name prefix, "_xlpt"

	subs, flags, valueFlags, resolve, args, values []string // case arms
}

func (g *bashGen) walk(path string, cmds []*cli.Command, flags []cli.Flag) {
	var names, all, vals []string
	flags = visibleFlags(flags)
	if path != "" && !g.app.HideHelp && !g.app.HideHelpCommand && cli.HelpFlag != nil {
		flags = append(flags, cli.HelpFlag) // every command takes --help
	}
	if path != "" && g.comp.GlobalFlagsAnywhere {
		flags = appendNew(flags, visibleFlags(g.app.Flags))
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			all = append(all, dashes(n))
			if takesValue(f) {
				vals = append(vals, dashes(n))
				if w := g.words(path, dashes(f.Names()[0])); w != "" {
					g.values = append(g.values, arm(path+" "+dashes(n), w))
				}
			}
		}
	}
	if len(all) > 0 {
		g.flags = append(g.flags, arm(path, "echo "+shellWords(all)))
	}
	if len(vals) > 0 {
		g.valueFlags = append(g.valueFlags, arm(path, "echo "+shellWords(vals)))
	}
	for _, c := range cmds {
		names = append(names, c.Name)
		sub := strings.TrimSpace(path + " " + c.Name)
		for _, n := range c.Names() {
			g.resolve = append(g.resolve, arm(path+" "+n, "echo "+shellWords([]string{c.Name})))
		}
		if c.Name == "help" && len(c.Subcommands) == 0 {
			// help COMMAND: the names it can explain.
			g.args = append(g.args, arm(sub+" 0", "echo "+shellWords(commandNames(cmds))))
		} else {
			g.positional(sub, c.ArgsUsage)
		}
		g.walk(sub, c.VisibleCommands(), c.Flags)
	}
	if len(names) > 0 {
		g.subs = append(g.subs, arm(path, "echo "+shellWords(names)))
	}
}

// appendNew appends the flags of more whose names are not in fl yet.
func appendNew(fl, more []cli.Flag) []cli.Flag {
	have := map[string]bool{}
	for _, f := range fl {
		for _, n := range f.Names() {
			have[n] = true
		}
	}
	for _, f := range more {
		if !have[f.Names()[0]] && f != cli.VersionFlag && f != cli.HelpFlag {
			fl = append(fl, f)
		}
	}
	return fl
}

// positional adds the argument completions of one command: one arm per
// placeholder in its ArgsUsage, the last repeating when it ends in "...".
func (g *bashGen) positional(path, usage string) {
	ph := Positional(usage)
	for i, p := range ph {
		w := g.words(path, strings.TrimSuffix(p, "..."))
		if w == "" {
			continue
		}
		key := lit(fmt.Sprintf("%s %d", path, i))
		if i == len(ph)-1 && strings.HasSuffix(p, "...") {
			// This position and every later one (after the exact arms of
			// this path: the first matching arm wins).
			key += " | " + lit(path+" ") + "[0-9]*"
		}
		g.args = append(g.args, armPattern(key, w))
	}
}

// words is the bash command for the candidates of what; the path
// markers are echoed for the main function to see.
func (g *bashGen) words(path, what string) string {
	if g.comp.Words == nil {
		return ""
	}
	w := g.comp.Words(path, what)
	if w == FilesWords || w == DirsWords {
		return "echo " + w
	}
	return w
}

// Positional lists the placeholders of the positional arguments in an
// ArgsUsage string, without brackets; flags shown there ("[-n NAME]") are
// left out. "[BDF...]" gives "BDF...".
func Positional(usage string) []string {
	var out []string
	for _, tok := range usageTokens(usage) {
		t := strings.Trim(tok, "[]")
		if t == "" || strings.HasPrefix(t, "-") {
			continue
		}
		out = append(out, t)
	}
	return out
}

// usageTokens splits usage at spaces outside brackets.
func usageTokens(usage string) []string {
	var out []string
	depth, start := 0, -1
	for i, r := range usage + " " {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		}
		if r == ' ' && depth == 0 {
			if start >= 0 {
				out = append(out, usage[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return out
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name)
	}
	return out
}

// arm is one case arm matching the literal key.
func arm(key, command string) string { return armPattern(lit(key), command) }

func armPattern(pattern, command string) string {
	return fmt.Sprintf("\t%s) %s ;;\n", pattern, command)
}

// lit quotes s as a literal case pattern.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shellWords quotes words for echo; they are names, so single quotes
// suffice.
func shellWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = lit(w)
	}
	return strings.Join(q, " ")
}

func caseFunc(name, comment, subject string, arms []string) string {
	return fmt.Sprintf("# %s\n%s() {\n\tcase %s in\n%s\tesac\n}\n\n", comment, name, subject, strings.Join(arms, ""))
}

func (g *bashGen) render() string {
	var b strings.Builder
	name, fn := g.app.Name, g.fn
	fmt.Fprintf(&b, "# bash completion for %s  -*- shell-script -*-\n", name)
	fmt.Fprintf(&b, "# Generated from %s's command definitions; do not edit.\n\n", name)
	if g.comp.Helpers != "" {
		b.WriteString(strings.TrimSpace(g.comp.Helpers) + "\n\n")
	}
	b.WriteString(caseFunc(fn+"_subcommands", "PATH: the subcommands of a command path (\"\" is the program).", `"$1"`, g.subs))
	b.WriteString(caseFunc(fn+"_resolve", "PATH WORD: the subcommand WORD (a name or an alias) names, if any.", `"$1 $2"`, g.resolve))
	b.WriteString(caseFunc(fn+"_flags", "PATH: the flags of a command path.", `"$1"`, g.flags))
	b.WriteString(caseFunc(fn+"_valueflags", "PATH: the flags of a command path that take a value.", `"$1"`, g.valueFlags))
	b.WriteString(caseFunc(fn+"_args", "PATH N: candidates for the Nth (from 0) positional argument.", `"$1 $2"`, g.args))
	b.WriteString(caseFunc(fn+"_values", "PATH FLAG: candidates for the value of FLAG.", `"$1 $2"`, g.values))
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(bashMain, "_PROG_", fn), "PROGNAME", name))
	return b.String()
}

// bashMain parses the line up to the cursor itself (bash's COMP_WORDS
// splits 0000:03:00.0 at each colon): it walks the words to find the
// command path and the positional index, then completes a flag value, a
// flag, a subcommand or a positional argument.
const bashMain = `# _PROG__has WORD LIST...: WORD is in LIST.
_PROG__has() {
	local w=$1 x
	shift
	for x; do [[ $x == "$w" ]] && return 0; done
	return 1
}

_PROG_() {
	local line=${COMP_LINE:0:COMP_POINT} w=() path="" n=0 i x sub takes=0 ended=0 cands flag
	read -ra w <<<"$line"
	[[ -z $line || $line == *[[:space:]] ]] && w+=("")
	local cur=${w[${#w[@]} - 1]}
	for ((i = 1; i < ${#w[@]} - 1; i++)); do
		x=${w[i]}
		if ((takes)); then
			takes=0
		elif ((!ended)) && [[ $x == -- ]]; then
			ended=1
		elif ((!ended)) && [[ $x == -?* ]]; then
			[[ $x != *=* ]] && _PROG__has "$x" $(_PROG__valueflags "$path") $(_PROG__valueflags "") && takes=1
		elif ((n == 0)) && sub=$(_PROG__resolve "$path" "$x") && [[ -n $sub ]]; then
			path=${path:+$path }$sub
		else
			n=$((n + 1))
		fi
	done
	if ((takes)); then
		flag=${w[${#w[@]} - 2]}
		cands=$(_PROG__values "$path" "$flag")
		[[ -n $cands ]] || cands=$(_PROG__values "" "$flag")
	elif ((!ended)) && [[ $cur == --*=* ]]; then
		flag=${cur%%=*}
		cur=${cur#*=}
		cands=$(_PROG__values "$path" "$flag")
		[[ -n $cands ]] || cands=$(_PROG__values "" "$flag")
	elif ((!ended)) && [[ $cur == -* ]]; then
		cands=$(_PROG__flags "$path")
	elif ((n == 0)) && [[ -n $(_PROG__subcommands "$path") ]]; then
		cands=$(_PROG__subcommands "$path")
	else
		cands=$(_PROG__args "$path" "$n")
	fi
	# No process substitution: it needs /dev/fd, which minimal systems
	# (an initramfs, a container) may not have.
	local out
	case $cands in
	@files)
		compopt -o filenames 2>/dev/null
		out=$(compgen -f -- "$cur")
		;;
	@dirs)
		compopt -o filenames 2>/dev/null
		out=$(compgen -d -- "$cur")
		;;
	*) out=$(compgen -W "$cands" -- "$cur") ;;
	esac
	COMPREPLY=()
	[[ -z $out ]] || mapfile -t COMPREPLY <<<"$out"
	# bash replaces only the part after the last colon (COMP_WORDBREAKS).
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		local pre=${cur%"${cur##*:}"}
		COMPREPLY=("${COMPREPLY[@]#"$pre"}")
	fi
}
complete -F _PROG_ PROGNAME
`
