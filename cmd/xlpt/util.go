package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

// Exit codes, as xl's: 0 done, 1 the operation failed, 2 malformed input.
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageError marks errors in what the user typed; they exit 2 and nothing
// has been changed when they are returned.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitStatus lets a command fail with a given status and no message of
// its own (the output already said it).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func exitCode(err error) int {
	var ue usageError
	var es exitStatus
	switch {
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue), errors.Is(err, xl.ErrMalformedSpec), errors.Is(err, hotplug.ErrBadRequest),
		errors.Is(err, hotplug.ErrHostSetup), errors.Is(err, xlcfg.ErrSyntax), errors.Is(err, rdm.ErrMalformedRMRR):
		return exitUsage
	}
	return exitFailed
}

// args checks the number of positional arguments before anything happens.
func args(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case n < min:
		return usagef("missing arguments: %s", usageOf(commandName(c), c.Command.ArgsUsage))
	case max >= 0 && n > max:
		return usagef("too many arguments (%q): %s", c.Args().Slice()[max:], usageOf(commandName(c), c.Command.ArgsUsage))
	}
	return nil
}

// stubDriver is --driver, the stub that hides a device: pciback or
// pci-stub.
func stubDriver(c *cli.Context) (string, error) {
	if drv := c.String("driver"); drv != pcibind.DriverPciback && drv != pcibind.DriverPciStub {
		return "", usagef("--driver %q: use pciback or pci-stub", drv)
	}
	return c.String("driver"), nil
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "Print machine-readable JSON"}

// wantJSON is true when --json was given to the command or globally.
func wantJSON(c *cli.Context) bool {
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil || ctx.App != nil {
			if ctx.IsSet("json") && ctx.Bool("json") {
				return true
			}
		}
	}
	return false
}
