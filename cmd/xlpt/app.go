package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/getopt"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/internal/plain"
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

func newApp() *cli.App {
	// -v is --verbose here, as in xl; the version moves to -V.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "Print the version"}
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "Show help"}
	cli.FlagStringer = help.FlagString
	cli.HelpPrinterCustom = wholeHelp(cli.HelpPrinterCustom)
	verbosity := 0
	app := &cli.App{
		Name:                   "xlpt",
		Usage:                  "PCI passthrough for Xen, with the rules libxl leaves out",
		Version:                version,
		Description:            help.Of(""),
		EnableBashCompletion:   true,
		UseShortOptionHandling: true, // -vv is -v -v
		Flags: append([]cli.Flag{
			jsonFlag,
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Count: &verbosity,
				Usage: "Log more (-v info, -vv debug, -vvv trace)"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"XLPT_LOG_LEVEL"},
				Usage: "Log level: error, warn, info, debug or trace (overrides -v)"},
			&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"XLPT_LOG_FORMAT"},
				Usage: "Log format: text or json (warnings and the final error too)"},
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
		// "xlpt" alone shows the commands; "xlpt nosuch" is malformed
		// input (exit 2), as in xl.
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return unknownCommand("", c.Args().First(), c.App.Commands, c.App.Flags)
		},
		Commands:       append(commands(), helpCommand()),
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit status
	}
	// Each app wraps its own copies: the command values are shared.
	for i, cmd := range app.Commands {
		app.Commands[i] = wrapCommand(cmd, "")
	}
	return app
}

// helpCommand replaces urfave/cli's: "help CMD [SUB]" shows that
// command's help; an unknown one is refused (exit 2) suggesting only
// commands a user can see.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "Show the commands, or one command's help",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return showHelp(c, c.App.Commands, c.Args().Slice(), "")
		},
	}
}

// showHelp shows the help of the command path names among cmds.
func showHelp(c *cli.Context, cmds []*cli.Command, names []string, parent string) error {
	cmd := getopt.FindCommand(cmds, names[0])
	if cmd == nil || cmd.Name == "help" {
		return unknownCommand(parent, names[0], cmds, c.App.Flags)
	}
	if len(names) > 1 && len(cmd.Subcommands) > 0 {
		return showHelp(c, cmd.Subcommands, names[1:], strings.TrimSpace(parent+" "+cmd.Name))
	}
	ctx := cli.NewContext(c.App, nil, c)
	ctx.Command = &cli.Command{Subcommands: cmds}
	return cli.ShowCommandHelp(ctx, cmd.Name)
}

// wrapCommand prefixes a command's errors with its name, as xl does
// ("pci-attach: malformed PCI_SPEC_STRING ..."), makes flag errors
// usage errors in xlpt's words, and gives a parent command (cfg, rdm,
// sriov, migrate) an action that refuses a missing or unknown
// subcommand.
func wrapCommand(orig *cli.Command, parent string) *cli.Command {
	cmd := *orig
	name, action := parent+cmd.Name, cmd.Action
	if parent != "" {
		cmd.HelpName = "xlpt " + name
	}
	if action == nil && len(cmd.Subcommands) > 0 {
		cmd.HideHelpCommand = true
		action = func(c *cli.Context) error {
			subs := c.Command.Subcommands // the wrapped ones
			switch {
			case c.NArg() == 0:
				var names []string
				for _, s := range subs {
					names = append(names, s.Name)
				}
				return usagef("name a subcommand: %s (see 'xlpt %s --help')", strings.Join(names, ", "), name)
			case c.Args().First() == "help" && c.NArg() > 1:
				return showHelp(c, subs, c.Args().Slice()[1:], name)
			case c.Args().First() == "help":
				return cli.ShowSubcommandHelp(c)
			}
			return unknownCommand(name, c.Args().First(), subs, nil)
		}
	}
	if action != nil {
		cmd.Action = func(c *cli.Context) error {
			if err := action(c); err != nil {
				var p prefixed
				if _, ok := err.(exitStatus); ok || errors.As(err, &p) && p.cmd == name {
					return err
				}
				return prefixed{name, err}
			}
			return nil
		}
	}
	cmd.OnUsageError = usageErrorOf(name, cmd.Flags)
	subs := make([]*cli.Command, len(cmd.Subcommands))
	for i, sub := range cmd.Subcommands {
		subs[i] = wrapCommand(sub, name+" ")
	}
	cmd.Subcommands = subs
	return &cmd
}

// onUsageError is the app's: main's "xlpt: " is the only prefix needed.
func onUsageError(c *cli.Context, err error, _ bool) error {
	// --help and -h before any command: urfave/cli's app-level flag set
	// reports them as Go's flag.ErrHelp; they ask for the help, exit 0.
	if errors.Is(err, flag.ErrHelp) {
		return cli.ShowAppHelp(c)
	}
	return usageError{fmt.Errorf("%w (see 'xlpt help')", plain.FlagError(err, c.App.Flags))}
}

// usageErrorOf is a command's: its full name prefixes the error.
func usageErrorOf(name string, flags []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return usageError{prefixed{name, fmt.Errorf("%w (see 'xlpt %s --help')", plain.FlagError(err, flags), name)}}
	}
}

func setupLogging(c *cli.Context, verbosity int) error {
	logrus.SetOutput(os.Stderr)
	f := c.String("log-format")
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata["log-format"] = f
	switch f {
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

// wholeHelp renders help into memory and writes it in one call: the
// template writes each fragment on its own (some 190 writes for `xlpt
// --help`), and each is a system call, costly in a PV dom0.
func wholeHelp(print func(io.Writer, string, any, map[string]any)) func(io.Writer, string, any, map[string]any) {
	return func(w io.Writer, templ string, data any, funcs map[string]any) {
		var b bytes.Buffer
		print(&b, templ, data, funcs)
		_, _ = w.Write(b.Bytes())
	}
}
