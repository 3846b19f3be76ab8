package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/getopt"
)

// The one road out for errors: usage errors in one form (the command's
// full name, the input, the fix, then where help is), Go's wording of
// flag and file errors turned into plain words, and the final line as
// text or, under --log-format json, as a JSON record.

// prefixed is an error of one command, which main prints after its name
// as xl does ("pci-attach: malformed PCI_SPEC_STRING ...").
type prefixed struct {
	cmd string
	err error
}

func (p prefixed) Error() string { return p.cmd + ": " + p.err.Error() }
func (p prefixed) Unwrap() error { return p.err }

// usageOf is a command's usage line, with its parents: "usage: xlpt
// sriov enable [--assignable ...] PF N".
func usageOf(name, argsUsage string) string {
	return strings.TrimSpace("usage: xlpt " + name + " " + argsUsage)
}

// The flag package's words, as urfave/cli passes them on.
var (
	flagUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagBadValue  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([^:]+): (.*)$`)
	flagNoValue   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	flagTwoForms  = regexp.MustCompile(`^cannot use two forms of the same flag: (\S+) (\S+)$`)
)

// plainFlagError says a flag error of urfave/cli in xlpt's words: the
// flag as it is typed (--bogus, -n), what value it wants, and the flag
// meant when a known one is close.
func plainFlagError(err error, flags []cli.Flag) error {
	msg := err.Error()
	if m := flagUndefined.FindStringSubmatch(msg); m != nil {
		s := fmt.Sprintf("unknown flag %s", dashed(m[1]))
		if near := nearest(m[1], flagNames(flags)); near != "" {
			s += fmt.Sprintf("; did you mean %s?", dashed(near))
		}
		return errors.New(s)
	}
	if m := flagBadValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s %q: %s", dashed(m[2]), m[1], wants(findFlag(flags, m[2])))
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s needs a value: %s", dashed(m[1]), wants(findFlag(flags, m[1])))
	}
	if m := flagTwoForms.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s and %s are the same flag: give it once", dashed(m[1]), dashed(m[2]))
	}
	return err
}

// dashed is a flag name as typed: -n, --name.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
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

// nearest is the word of words closest to w, "" when none is close
// enough to be what was meant: at most a third of its letters apart
// (one for short words), or one contains the other.
func nearest(w string, words []string) string {
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

// unknownCommand refuses a command name that is not one (exit 2), with
// the one meant when it is close to a visible command's name, or the
// global flag meant ("xlpt version": --version).
func unknownCommand(parent string, name string, cmds []*cli.Command, globals []cli.Flag) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			names = append(names, c.Names()...)
		}
	}
	sort.Strings(names)
	what, see := "command", "xlpt help"
	if parent != "" {
		what, see = "subcommand", "xlpt "+parent+" --help"
	}
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if near := nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	} else if f := findFlag(globals, name); f != nil && parent == "" {
		msg += fmt.Sprintf("; did you mean the flag %s?", dashed(name))
	}
	return usageError{fmt.Errorf("%s (see '%s')", msg, see)}
}

// plainError is err's message with the Go wording of what it wraps
// (file errors, JSON syntax errors) put in plain words.
func plainError(err error) string {
	msg := err.Error()
	walkErrors(err, func(e error) {
		var plain string
		switch e := e.(type) {
		case *fs.PathError:
			plain = plainPathError(e.Op, e.Path, e.Err)
		case *json.SyntaxError:
			plain = fmt.Sprintf("not valid JSON at byte %d", e.Offset)
		case *json.UnmarshalTypeError:
			plain = fmt.Sprintf("not what was expected in JSON: %s at byte %d should be %s, not %s", e.Field, e.Offset, e.Type, e.Value)
		default:
			return
		}
		msg = strings.ReplaceAll(msg, e.Error(), plain)
	})
	return msg
}

// walkErrors calls fn on err and everything it wraps.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	}
}

// plainPathError says what went wrong with a path without the system
// call's name: "/x does not exist", not "open /x: no such file or
// directory".
func plainPathError(op, path string, err error) string {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist"
	case errno == syscall.EISDIR:
		return path + " is a directory, not a file"
	case errno == syscall.ENOTDIR:
		return path + ": a part of the path is not a directory"
	case errors.Is(err, fs.ErrPermission):
		return path + ": permission denied (xlpt needs root for this)"
	case errno == syscall.EROFS:
		return path + " is on a read-only file system"
	case errno == syscall.ENOSPC:
		return path + ": no space left on its file system"
	}
	return fmt.Sprintf("cannot %s %s: %v", op, path, err)
}

// printError puts the final error on w: "xlpt: COMMAND: reason", or a
// JSON record like the warnings' under --log-format json.
func printError(w io.Writer, err error, jsonFormat bool) {
	if _, silent := err.(exitStatus); silent {
		return
	}
	cmd, msg := "", plainError(err)
	var p prefixed
	if errors.As(err, &p) && strings.HasPrefix(msg, p.cmd+": ") {
		cmd, msg = p.cmd, strings.TrimPrefix(msg, p.cmd+": ")
	}
	if !jsonFormat {
		if cmd != "" {
			msg = cmd + ": " + msg
		}
		fmt.Fprintf(w, "xlpt: %s\n", msg)
		return
	}
	rec := map[string]any{"level": "error", "msg": msg, "exit_status": exitCode(err),
		"time": time.Now().Format(time.RFC3339)}
	if cmd != "" {
		rec["command"] = cmd
	}
	b, _ := json.Marshal(rec)
	fmt.Fprintf(w, "%s\n", b)
}

// runApp runs one command line: getopt's reordering, then the app. A
// flag given twice is a usage error of its command.
func runApp(app *cli.App, args []string) error {
	args, err := getopt.Args(app, args)
	var twice *getopt.TwiceError
	switch {
	case errors.As(err, &twice) && twice.Command != "":
		return usageError{prefixed{twice.Command, fmt.Errorf("%w (see 'xlpt %s --help')", err, twice.Command)}}
	case err != nil:
		return usageError{err}
	}
	return app.Run(args)
}

// jsonLogFormat says whether the run's errors go out as JSON records:
// --log-format as setupLogging read it, else as given on the command
// line or in the environment (a flag error stops the run before).
func jsonLogFormat(app *cli.App, args []string) bool {
	if f, ok := app.Metadata["log-format"].(string); ok {
		return f == "json"
	}
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--log-format=json" || a == "-log-format=json":
			return true
		case (a == "--log-format" || a == "-log-format") && i+1 < len(args):
			return args[i+1] == "json"
		}
	}
	return os.Getenv("XLPT_LOG_FORMAT") == "json"
}

// errWriter is where the app's errors go.
func errWriter(app *cli.App) io.Writer {
	if app.ErrWriter != nil {
		return app.ErrWriter
	}
	return os.Stderr
}
