package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/xenlight"
)

var pciAssignableAddCommand = &cli.Command{
	Name:      "pci-assignable-add",
	Usage:     "Hide a device from dom0 so it can be passed through",
	ArgsUsage: "[-n NAME] BDF",
	Description: `Unbinds BDF from its dom0 driver and binds it to pciback (new_slot, bind),
remembering the original driver so pci-assignable-remove -r can give it back.
Xen then quarantines it.

Example:
   xlpt pci-assignable-add -n nic1 0000:03:00.0`,
	Flags: []cli.Flag{&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "Name the device for later specs (name=NAME)"}},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		bdf, all, err := xenlight.ParseBdf(c.Args().First())
		if err != nil {
			return err
		}
		if all {
			return usagef("%q: name one function; xlpt check BB:DD lists them", c.Args().First())
		}
		ctx, err := openToolstack()
		if err != nil {
			return err
		}
		defer ctx.Close()
		d := xenlight.NewDevicePci()
		d.PciBdf, d.Name = bdf, c.String("name")
		if err := ctx.PciAssignableAdd(d, true); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s is assignable\n", bdf)
		return nil
	},
}

var pciAssignableRemoveCommand = &cli.Command{
	Name:      "pci-assignable-remove",
	Usage:     "Take a device back from pciback",
	ArgsUsage: "[-r] BDF|NAME",
	Description: `Releases BDF (or the device named NAME) from pciback. With -r it is bound
again to the dom0 driver it had before pci-assignable-add.

Example:
   xlpt pci-assignable-remove -r 0000:03:00.0`,
	Flags: []cli.Flag{&cli.BoolFlag{Name: "rebind", Aliases: []string{"r"}, Usage: "Bind it again to its original dom0 driver"}},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		arg := c.Args().First()
		d := xenlight.NewDevicePci()
		// As xl: a BDF if it parses as one, else a name.
		bdf, all, err := xenlight.ParseBdf(arg)
		switch {
		case err == nil && all:
			return usagef("%q: name one function", arg)
		case err == nil:
			d.PciBdf = bdf
		case errors.Is(err, xenlight.ErrMalformedSpec) && looksLikeBdf(arg):
			return err
		default:
			d.Name = arg
		}
		ctx, err := openToolstack()
		if err != nil {
			return err
		}
		defer ctx.Close()
		if err := ctx.PciAssignableRemove(d, c.Bool("rebind")); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s released from pciback\n", arg)
		return nil
	},
}

// looksLikeBdf tells a mistyped BDF from a device name: names have no ':'.
func looksLikeBdf(s string) bool {
	for _, r := range s {
		if r == ':' {
			return true
		}
	}
	return false
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
		ctx, err := openToolstack()
		if err != nil {
			return err
		}
		defer ctx.Close()
		devs, err := ctx.PciAssignableList()
		if err != nil {
			return err
		}
		if wantJSON(c) {
			if devs == nil {
				devs = []xenlight.DevicePci{}
			}
			return printJSON(c.App.Writer, devs)
		}
		for _, d := range devs {
			if c.Bool("show-names") && d.Name != "" {
				fmt.Fprintf(c.App.Writer, "%s %s\n", d.PciBdf, d.Name)
			} else {
				fmt.Fprintf(c.App.Writer, "%s\n", d.PciBdf)
			}
		}
		return nil
	},
}
