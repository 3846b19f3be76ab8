package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xenlight/qmp"
	"github.com/xlpt/xlpt/xl"
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
	case errors.As(err, &ue), errors.Is(err, xl.ErrMalformedSpec):
		return exitUsage
	}
	return exitFailed
}

// args checks the number of positional arguments before anything happens.
func args(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case n < min:
		return usagef("missing arguments: usage: xlpt %s %s", c.Command.Name, c.Command.ArgsUsage)
	case max >= 0 && n > max:
		return usagef("too many arguments (%q): usage: xlpt %s %s", c.Args().Slice()[max:], c.Command.Name, c.Command.ArgsUsage)
	}
	return nil
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

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newService sets up the decisions: libxl, the host's PCI devices as
// sysfs shows them now, the slot policy and the host lock.
func newService(c *cli.Context, want ...xl.PciBdf) (*hotplug.Service, error) {
	e := envOf(c)
	cfg, err := e.hostConfig()
	if err != nil {
		return nil, err
	}
	slots := cfg.HotplugSlots
	if c.IsSet("slots") {
		slots = c.String("slots")
	}
	r, err := hotplug.ParseSlotRange(slots)
	if err != nil {
		return nil, usageError{err}
	}
	ctx, err := e.toolstack()
	if err != nil {
		return nil, err
	}
	// Only what the rules about the named devices need, read on demand;
	// no pci.ids names (nothing here prints them).
	sys := e.sysfsNamed(false)
	host, err := timed("host read", func() (*pcibind.Host, error) { return sys.Read(want...) })
	if err != nil {
		return nil, fmt.Errorf("read the host's PCI devices: %w", err)
	}
	return &hotplug.Service{
		TS: hotplug.Memo(withTiming(ctx)), Host: host, Slots: r, Log: logrus.StandardLogger(),
		Lock:    timedLock(e.lock),
		DM:      timedDM{qmp.DeviceModel{}},
		Journal: hotplug.NewJournal(e.StateDir),
		Kernel:  sys,
		// After a recovery changed drivers: the whole host, since the
		// records it finished may name devices the request does not.
		Rescan: func() (hotplug.Host, error) {
			h, err := sys.Scan()
			if err == nil {
				*host = *h // the checks hold host
			}
			return host, err
		},
		Checks: []hotplug.DeviceCheck{
			timedCheck("rdm check", hotplug.RdmCheck(regionFinder(c, ctx))),
			timedCheck("msi check", hotplug.MsiCheck(host)),
			timedCheck("sriov check", hotplug.SRIOVCheck(host)),
		},
	}, nil
}

// newBindService is newService for assignable-add/remove: libxl when this
// is a dom0, and sysfs binding (pcibind) for pci-stub or without libxl.
func newBindService(c *cli.Context, want ...xl.PciBdf) (*hotplug.Service, *pcibind.Sysfs, *pcibind.Host, error) {
	e := envOf(c)
	if _, err := e.hostConfig(); err != nil {
		return nil, nil, nil, err
	}
	sys := e.sysfsNamed(false)
	host, err := timed("host read", func() (*pcibind.Host, error) { return sys.Read(want...) })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the host's PCI devices: %w", err)
	}
	svc := &hotplug.Service{Host: host, Log: logrus.StandardLogger(), Lock: timedLock(e.lock),
		Journal: hotplug.NewJournal(e.StateDir), Kernel: sys, DM: qmp.DeviceModel{}}
	svc.Rescan = func() (hotplug.Host, error) {
		h, err := sys.Scan()
		if err == nil {
			*host = *h // the caller's checker holds host
		}
		return host, err
	}
	ctx, err := e.toolstack()
	switch {
	case err == nil:
		svc.TS = hotplug.Memo(withTiming(ctx))
	case errors.Is(err, xl.ErrNoHypervisor):
		logrus.Infof("%v: binding through sysfs only", err)
	default:
		return nil, nil, nil, err
	}
	return svc, sys, host, nil
}
