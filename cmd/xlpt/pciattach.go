package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var slotsFlag = &cli.StringFlag{Name: "slots", Usage: "Hot-plug slot range for HVM guests, hex (default 6-7, or hotplug_slots in the host config)"}

var pciAttachCommand = &cli.Command{
	Name:        "pci-attach",
	Usage:       "Hot-plug a PCI device into a running domain",
	ArgsUsage:   "[-o OPTS] DOMAIN PCI_SPEC_STRING [VSLOT]",
	Description: help.Of("pci-attach"),
	Flags: []cli.Flag{jsonFlag, slotsFlag,
		&cli.StringFlag{Name: "options", Aliases: []string{"o"}, Usage: "Spec options KEY=VALUE[,...], as xm's -o (e.g. msitranslate=0)"},
		&cli.BoolFlag{Name: "group", Usage: "Attach the device's whole same-domain group"},
		&cli.BoolFlag{Name: "any-slot", Usage: "Allow a VSLOT outside the hot-plug range"},
		&cli.BoolFlag{Name: "assign", Usage: "Make devices dom0 still holds assignable first (libxl's seize)"},
	},
	Action: func(c *cli.Context) error {
		o := newOutput(c)
		defer o.flush()
		dev, svc, err := specAndService(c, 3)
		if err != nil {
			return err
		}
		res, err := svc.Attach(hotplug.AttachRequest{Domain: c.Args().First(), Device: dev,
			Group: c.Bool("group"), AnySlot: c.Bool("any-slot"), Assign: c.Bool("assign")})
		o.warn(res.Warnings...)
		if err != nil {
			return err
		}
		return o.emit(report.Attach(res), func(w io.Writer) {
			for _, d := range res.Attached {
				if res.Domain.IsHVM() {
					fmt.Fprintf(w, "%s attached to %s at guest slot %02x.%x%s\n", d.PciBdf, res.Domain, d.VSlot(), d.VFunc(), resumed(res.Resumed))
				} else {
					fmt.Fprintf(w, "%s attached to %s%s\n", d.PciBdf, res.Domain, resumed(res.Resumed))
				}
			}
		})
	},
}

// resumed is what a line about a device adds when an interrupted run
// began the work and this run found it done.
func resumed(r bool) string {
	if r {
		return " (finishing what an interrupted run began)"
	}
	return ""
}

var pciDetachCommand = &cli.Command{
	Name:        "pci-detach",
	Usage:       "Hot-unplug a PCI device from a domain",
	ArgsUsage:   "[-f] DOMAIN PCI_SPEC_STRING [PCI_SPEC_STRING...]",
	Description: help.Of("pci-detach"),
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Remove without the guest's consent"},
		&cli.BoolFlag{Name: "group", Usage: "Detach the device's whole same-domain group"},
	},
	Action: func(c *cli.Context) error {
		o := newOutput(c)
		defer o.flush()
		dev, svc, err := specAndService(c, -1)
		if err != nil {
			return err
		}
		more, err := moreSpecs(c)
		if err != nil {
			return err
		}
		res, err := svc.Detach(hotplug.DetachRequest{Domain: c.Args().First(), Device: dev, More: more,
			Force: c.Bool("force"), Group: c.Bool("group")})
		o.note(res.Notes...)
		if err != nil {
			// what was detached before the failure is still said
			for _, d := range res.Detached {
				fmt.Fprintf(c.App.Writer, "%s detached from %s\n", d.PciBdf, res.Domain)
			}
			return err
		}
		return o.emit(report.Detach(res), func(w io.Writer) {
			for _, d := range res.Detached {
				fmt.Fprintf(w, "%s detached from %s%s\n", d.PciBdf, res.Domain, resumed(res.Resumed))
			}
		})
	},
}

// moreSpecs parses the specs after DOMAIN SPEC (pci-detach DOMAIN SPEC
// SPEC...).
func moreSpecs(c *cli.Context) ([]xl.DevicePci, error) {
	var more []xl.DevicePci
	for _, a := range c.Args().Slice()[2:] {
		d, err := xl.ParseSpec(a)
		if err != nil {
			return nil, err
		}
		more = append(more, d)
	}
	return more, nil
}

// specAndService checks DOMAIN SPEC [VSLOT] (maxArgs 3 allows VSLOT; -1
// any number of specs after the first, which the caller parses), parses
// the spec, then sets up the service: malformed input is refused before
// libxl or sysfs is touched.
func specAndService(c *cli.Context, maxArgs int) (xl.DevicePci, *hotplug.Service, error) {
	if err := args(c, 2, maxArgs); err != nil {
		return xl.DevicePci{}, nil, err
	}
	spec, err := xl.MergeOptions(c.Args().Get(1), c.String("options"))
	if err != nil {
		return xl.DevicePci{}, nil, err
	}
	vslot := ""
	if maxArgs == 3 {
		vslot = c.Args().Get(2)
	}
	dev, err := xl.ParseSpecSlot(spec, vslot)
	if err != nil {
		return dev, nil, err
	}
	svc, err := envOf(c).service(c, false)
	return dev, svc, err
}
