package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/getopt"
	"github.com/xlpt/xlpt/internal/plain"
)

// The one road out for errors: usage errors in one form (the command's
// full name, the input, the fix, then where help is), Go's wording of
// flag and file errors turned into plain words (internal/plain), and the
// final line as text or, under --log-format json, as a JSON record.

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
	if near := plain.Nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	} else if f := plain.FindFlag(globals, name); f != nil && parent == "" {
		msg += fmt.Sprintf("; did you mean the flag %s?", plain.Dashed(name))
	}
	return usageError{fmt.Errorf("%s (see '%s')", msg, see)}
}

// printError puts the final error on w: "xlpt: COMMAND: reason", or a
// JSON record like the warnings' under --log-format json.
func printError(w io.Writer, err error, jsonFormat bool) {
	if _, silent := err.(exitStatus); silent {
		return
	}
	cmd, msg := "", plain.Error(err)
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
