package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/report"
)

var hideCmdlineCommand = &cli.Command{
	Name:      "hide-cmdline",
	Usage:     "Print the kernel command line that hides devices from dom0 at boot",
	ArgsUsage: "BDF...",
	Description: `Checks each BDF against this host (it must exist; BB:DD.* means every
function of the slot) and prints the boot-time form for dom0's kernel,
xen-pciback.hide=(0000:01:00.0)(0000:03:00.0), so pciback claims the devices
before any dom0 driver. Warns, on stderr, when the list splits a same-domain
group (devices behind one PCIe-to-PCI or PCI bridge) or names a device dom0
needs or that cannot be assigned (bridges, SR-IOV PFs). Changes nothing.

With --persisted the set is the host setup's pciback devices
(CONFIG-DIR/devices.conf, written by pci-assignable-add --persist), for the
same boot-time hiding that xlpt restore would do later; VFs and pci-stub
devices are left to xlpt restore (VFs do not exist when pciback loads).

Examples:
   xlpt hide-cmdline 03:00.0 03:00.1
   xlpt hide-cmdline --persisted`,
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
