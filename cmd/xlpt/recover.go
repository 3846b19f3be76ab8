package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/report"
)

var recoverCommand = &cli.Command{
	Name:  "recover",
	Usage: "Finish or undo what a killed xlpt (or xl) left half-done",
	Description: `Every change xlpt makes writes an intent record under the state directory
first and removes it when done. recover reads the records a run that died
left, and compares libxl's lists, its xenstore records (/libxl/pci), each
HVM guest's QEMU (QMP query-pci), Xen's assignment and the sysfs driver
links, then brings each device to one consistent state:

  attached    listed by libxl in the guest, and in the guest's QEMU
  assignable  on pciback, quarantined, in no domain, its driver remembered
  dom0        back on its original driver

A hide or give-back that died is finished; an attach or detach that died
leaves the device attached if it is wholly there, else assignable. Leftovers
that no record explains (a killed xl pci-attach: QEMU has the device, libxl
lists it nowhere) are repaired the same way. Every changing command does
this first; recover does it on demand and says what it found and did.

Examples:
   xlpt recover --dry-run
   xlpt recover`,
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "Say what would be done; change nothing"}},
	Action: func(c *cli.Context) error {
		if err := args(c, 0, 0); err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		rep, err := svc.Recover(c.Bool("dry-run"))
		if eerr := o.emit(report.Recover(rep), func(w io.Writer) { printRecovery(w, rep) }); eerr != nil {
			return eerr
		}
		return err
	},
}

func printRecovery(w io.Writer, rep hotplug.RecoverReport) {
	if len(rep.Records) == 0 {
		fmt.Fprintln(w, "no operation was left unfinished")
	}
	for _, r := range rep.Records {
		fmt.Fprintf(w, "unfinished: %s\n", r)
	}
	n := 0
	for _, f := range rep.Repairs {
		if f.Nothing() && f.Record == "" {
			continue
		}
		n++
		fmt.Fprintf(w, "%s: %s: %s", f.Device, f.Problem, f.Action)
		if f.Err != "" {
			fmt.Fprintf(w, ": FAILED: %s", f.Err)
		}
		fmt.Fprintln(w)
	}
	if n == 0 {
		fmt.Fprintln(w, "every device is consistent")
	}
}
