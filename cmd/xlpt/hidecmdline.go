package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
)

var hideCmdlineCommand = &cli.Command{
	Name:        "hide-cmdline",
	Usage:       "Print the kernel command line that hides devices from dom0 at boot",
	ArgsUsage:   "BDF...",
	Description: help.Of("hide-cmdline"),
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "persisted", Usage: "Take the devices from the persisted host setup instead of arguments"}},
	Action: func(c *cli.Context) error {
		o := newOutput(c)
		defer o.flush()
		if c.Bool("persisted") {
			if err := args(c, 0, 0); err != nil {
				return usagef("--persisted takes no BDF: %w", err)
			}
		} else if err := args(c, 1, -1); err != nil {
			return err
		}
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		res, err := svc.HideCmdline(hotplug.HideCmdlineRequest{Specs: c.Args().Slice(), Persisted: c.Bool("persisted")})
		o.note(res.Notes...)
		if err != nil {
			return err
		}
		o.warn(res.Warnings...)
		return o.emit(report.HideCmdline(res), func(w io.Writer) { fmt.Fprintln(w, res.Cmdline) })
	},
}
