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

var pciMoveCommand = &cli.Command{
	Name:        "pci-move",
	Usage:       "Move a PCI device from one running guest to another",
	ArgsUsage:   "FROM TO PCI_SPEC_STRING [VSLOT]",
	Description: help.Of("pci-move"),
	Flags: []cli.Flag{jsonFlag, slotsFlag,
		&cli.StringFlag{Name: "plan", Usage: "The move's plan `FILE` (default: STATE_DIR/moves/FROM-BDF.plan)"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Detach from FROM without the guest's consent"},
	},
	Action: func(c *cli.Context) error {
		if err := args(c, 3, 4); err != nil {
			return err
		}
		from, to := c.Args().Get(0), c.Args().Get(1)
		dev, err := xl.ParseSpecSlot(c.Args().Get(2), c.Args().Get(3))
		if err != nil {
			return err
		}
		if dev.VfuncMask == 0 {
			return usagef("pci-move takes a BDF or BB:DD.*, not a name (%q)", c.Args().Get(2))
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		res, err := svc.Move(hotplug.MoveRequest{From: from, To: to, Device: dev, Force: c.Bool("force"), Plan: c.String("plan")})
		if res.Plan != nil {
			if eerr := o.emit(report.Plan(res.Plan), func(w io.Writer) {
				for _, d := range res.Plan.Devices {
					fmt.Fprintf(w, "%s  %s\n", d.BDF, res.Plan.Where(d))
				}
			}); eerr != nil {
				return eerr
			}
		}
		return err
	},
}
