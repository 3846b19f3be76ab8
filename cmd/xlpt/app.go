package main

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

var version = "0.1.0-dev"

// commands is every xlpt command; a new command is a new file plus one
// line here.
func commands() []*cli.Command {
	return []*cli.Command{
		pciSpecCommand,
		checkCommand,
		hideCmdlineCommand,
		pciAttachCommand,
		pciDetachCommand,
		pciListCommand,
		pciAssignableAddCommand,
		pciAssignableRemoveCommand,
		pciAssignableListCommand,
		rdmCommand,
		msiCommand,
		cfgCommand,
		migrateCommand,
		pciMoveCommand,
		recoverCommand,
		genDocsCommand, // hidden: the man page and completion script (gendocs.go)
		sriovCommand,
		restoreCommand,
	}
}

const appDescription = `xlpt does what xl's pci-* commands do, through the same libxl, and adds
the rules that Xen 4.17 and libxl leave out: which devices can safely go to
which guest, in which slot, and how to get them back.

Examples:
   xlpt pci-spec '03:00.1@5,permissive=1'     explain a PCI_SPEC_STRING
   xlpt pci-assignable-add 0000:03:00.0       hide a device from dom0 (pciback)
   xlpt pci-assignable-list                   devices ready to be passed through
   xlpt pci-attach web01 0000:03:00.0 7       hot-plug it into guest slot 7
   xlpt pci-list web01                        what the guest holds, and where
   xlpt pci-detach web01 0000:03:00.0         hot-unplug it (-f to force)
   xlpt pci-assignable-remove -r 03:00.0      give it back to its dom0 driver

Flags may come before, between or after the arguments, as with xl
(xlpt pci-detach web01 03:00.0 -f); "--" ends them.

Exit status: 0 done, 1 the operation failed, 2 malformed input (nothing was
changed). Errors go to stderr as "xlpt: COMMAND: reason", warnings as
"xlpt: COMMAND: warning: ...". --json puts the result on stdout for scripts:
one object that starts with "schema": "xlpt/1" (docs/json.md).`

func newApp() *cli.App {
	// -v is --verbose here, as in xl; the version moves to -V.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "Print the version"}
	verbosity := 0
	app := &cli.App{
		Name:                   "xlpt",
		Usage:                  "PCI passthrough for Xen, with the rules libxl leaves out",
		Version:                version,
		Description:            appDescription,
		EnableBashCompletion:   true,
		UseShortOptionHandling: true, // -vv is -v -v
		Suggest:                true,
		Flags: append([]cli.Flag{
			jsonFlag,
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Count: &verbosity,
				Usage: "Log more (-v info, -vv debug, -vvv trace)"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"XLPT_LOG_LEVEL"},
				Usage: "Log level: error, warn, info, debug or trace (overrides -v)"},
			&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"XLPT_LOG_FORMAT"},
				Usage: "Log format: text or json (warnings too)"},
		}, globalEnvFlags...),
		Before: func(c *cli.Context) error {
			if err := setupLogging(c, verbosity); err != nil {
				return err
			}
			if c.App.Metadata == nil {
				c.App.Metadata = map[string]any{}
			}
			c.App.Metadata["env"] = newEnv(c)
			return nil
		},
		After: func(c *cli.Context) error {
			if e, ok := c.App.Metadata["env"].(*env); ok {
				e.close()
			}
			return nil
		},
		Commands:       commands(),
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit status
	}
	// Each app wraps its own copies: the command values are shared.
	for i, cmd := range app.Commands {
		app.Commands[i] = wrapCommand(cmd, "")
	}
	return app
}

// wrapCommand prefixes a command's errors with its name, as xl does
// ("pci-attach: malformed PCI_SPEC_STRING ..."), and makes flag errors
// usage errors.
func wrapCommand(orig *cli.Command, parent string) *cli.Command {
	cmd := *orig
	name, action := parent+cmd.Name, cmd.Action
	if action != nil {
		cmd.Action = func(c *cli.Context) error {
			if err := action(c); err != nil {
				if _, ok := err.(exitStatus); ok {
					return err
				}
				return prefixed{name, err}
			}
			return nil
		}
	}
	cmd.OnUsageError = usageErrorOf(name)
	subs := make([]*cli.Command, len(cmd.Subcommands))
	for i, sub := range cmd.Subcommands {
		subs[i] = wrapCommand(sub, name+" ")
	}
	cmd.Subcommands = subs
	return &cmd
}

type prefixed struct {
	cmd string
	err error
}

func (p prefixed) Error() string { return p.cmd + ": " + p.err.Error() }
func (p prefixed) Unwrap() error { return p.err }

// onUsageError is the app's: main's "xlpt: " is the only prefix needed.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{fmt.Errorf("%w (see 'xlpt help')", err)}
}

// usageErrorOf is a command's: its full name prefixes the error.
func usageErrorOf(name string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return usageError{fmt.Errorf("%s: %w (see 'xlpt %s --help')", name, err, name)}
	}
}

func setupLogging(c *cli.Context, verbosity int) error {
	logrus.SetOutput(os.Stderr)
	switch f := c.String("log-format"); f {
	case "text":
		// Timestamps only where time is the question: -vv and more.
		logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: verbosity < 2,
			FullTimestamp: true, TimestampFormat: "15:04:05.000"})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return usagef("--log-format %q: use text or json", f)
	}
	// urfave/cli leaves an unset counted flag at -1.
	level := logrus.WarnLevel + logrus.Level(max(verbosity, 0))
	if level > logrus.TraceLevel {
		level = logrus.TraceLevel
	}
	if s := c.String("log-level"); s != "" {
		l, err := logrus.ParseLevel(s)
		if err != nil {
			return usagef("--log-level %q: use error, warn, info, debug or trace", s)
		}
		level = l
	}
	logrus.SetLevel(level)
	return nil
}
