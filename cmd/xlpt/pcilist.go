package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var pciListCommand = &cli.Command{
	Name:        "pci-list",
	Usage:       "List the PCI devices a domain holds, with their guest slots",
	ArgsUsage:   "DOMAIN",
	Description: help.Of("pci-list"),
	Flags: []cli.Flag{jsonFlag,
		&cli.StringFlag{Name: "format", Value: "table", Usage: "Output form: table (VT-d howto) or xl (as xl pci-list prints it)"}},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		format := c.String("format")
		if format != "table" && format != "xl" {
			return usagef("--format %q: use table or xl", format)
		}
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		dom, devs, err := svc.List(c.Args().First())
		if err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		return o.emit(report.PciList(dom, devs),
			func(w io.Writer) { printPciList(w, format, devs) })
	},
}

func printPciList(w io.Writer, format string, devs []xl.DevicePci) {
	if format == "xl" {
		if len(devs) > 0 {
			fmt.Fprintln(w, "Vdev Device")
		}
		for _, d := range devs {
			fmt.Fprintf(w, "%02x.%01x %s\n", d.VSlot(), d.VFunc(), d.PciBdf)
		}
		return
	}
	fmt.Fprintln(w, "VSlt domain bus  slot func")
	for _, d := range devs {
		fmt.Fprintf(w, "0x%02x 0x%04x 0x%02x 0x%02x 0x%x\n", d.VSlot(), d.Domain, d.Bus, d.Dev, d.Func)
	}
}
