package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var pciAssignableAddCommand = &cli.Command{
	Name:        "pci-assignable-add",
	Usage:       "Hide a device from dom0 so it can be passed through",
	ArgsUsage:   "[-n NAME] [--driver pciback|pci-stub] [--group] BDF",
	Description: help.Of("pci-assignable-add"),
	Flags: []cli.Flag{jsonFlag,
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "Name the device for later specs (name=NAME)"},
		&cli.StringFlag{Name: "driver", Value: pcibind.DriverPciback, Usage: "Stub driver: pciback or pci-stub"},
		&cli.BoolFlag{Name: "group", Usage: "Hide the device's whole same-domain group"},
		&cli.BoolFlag{Name: "force", Usage: "Hide it even if dom0 needs it"},
		persistFlag,
	},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		bdf, all, err := xl.ParseBdf(c.Args().First())
		if err != nil {
			return err
		}
		if all {
			return usagef("%q: name one function; xlpt check BB:DD lists them", c.Args().First())
		}
		drv, err := stubDriver(c)
		if err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		res, err := svc.AssignableAdd(hotplug.AssignableRequest{Device: bdf, Name: c.String("name"), Driver: drv,
			Group: c.Bool("group"), Force: c.Bool("force"), Persist: c.Bool("persist")})
		o.warn(res.Warnings...)
		if err != nil {
			return err
		}
		o.note(res.Notes...)
		return o.emit(report.AssignableAdd(res), func(w io.Writer) {
			for _, h := range res.Hidden {
				from := h.From
				if from == "" {
					from = "no driver"
				}
				fmt.Fprintf(w, "%s is assignable (on %s, was %s)\n", h.BDF, h.To, from)
			}
			switch {
			case len(res.Hidden) > 0:
			case res.Resumed:
				fmt.Fprintf(w, "%s is assignable%s\n", bdf, resumed(true))
			default:
				fmt.Fprintf(w, "%s is assignable already\n", bdf)
			}
		})
	},
}

var pciAssignableRemoveCommand = &cli.Command{
	Name:        "pci-assignable-remove",
	Usage:       "Take a device back from pciback or pci-stub",
	ArgsUsage:   "[-r] BDF|NAME",
	Description: help.Of("pci-assignable-remove"),
	Flags: []cli.Flag{jsonFlag, &cli.BoolFlag{Name: "rebind", Aliases: []string{"r"}, Usage: "Bind it again to its original dom0 driver"},
		persistFlag},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		arg := c.Args().First()
		d, err := xl.ParseDeviceArg(arg)
		if err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		res, err := svc.AssignableRemove(hotplug.ReleaseRequest{Device: d, Rebind: c.Bool("rebind"), Persist: c.Bool("persist")})
		o.note(res.Notes...)
		if err != nil {
			return err
		}
		return o.emit(report.AssignableRemove(arg, c.Bool("rebind"), res),
			func(w io.Writer) { fmt.Fprintln(w, res.Message) })
	},
}

var pciAssignableListCommand = &cli.Command{
	Name:      "pci-assignable-list",
	Usage:     "List devices that are assignable and not in use by a domain",
	ArgsUsage: "[-n]",
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "show-names", Aliases: []string{"n"}, Usage: "Show the names given at pci-assignable-add"}},
	Action: func(c *cli.Context) error {
		if err := args(c, 0, 0); err != nil {
			return err
		}
		ctx, err := envOf(c).toolstack()
		if err != nil {
			return err
		}
		devs, err := ctx.PciAssignableList()
		if err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		return o.emit(report.AssignableList(devs), func(w io.Writer) {
			for _, d := range devs {
				if c.Bool("show-names") && d.Name != "" {
					fmt.Fprintf(w, "%s %s\n", d.PciBdf, d.Name)
				} else {
					fmt.Fprintf(w, "%s\n", d.PciBdf)
				}
			}
		})
	},
}
