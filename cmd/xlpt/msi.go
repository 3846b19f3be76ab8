package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/msi"
	"github.com/xlpt/xlpt/report"
)

var msiCommand = &cli.Command{
	Name:        "msi",
	Usage:       "Show MSI and MSI-X capabilities and what msitranslate will do",
	ArgsUsage:   "BDF|PCI_SPEC_STRING...",
	Description: help.Of("msi"),
	Flags: []cli.Flag{jsonFlag,
		&cli.IntFlag{Name: "pci-msitranslate", Usage: "xl.cfg's pci_msitranslate (0 or 1)"},
		&cli.StringFlag{Name: "device-model", Value: msi.QemuXen, Usage: "device_model_version= (qemu-xen or qemu-xen-traditional)"},
		&cli.BoolFlag{Name: "pv", Usage: "The guest is PV (MSI goes through pcifront)"},
	},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, -1); err != nil {
			return err
		}
		req := hotplug.MSIRequest{Msitranslate: c.Int("pci-msitranslate") == 1, DeviceModel: c.String("device-model"), PV: c.Bool("pv")}
		if g := c.Int("pci-msitranslate"); g != 0 && g != 1 {
			return usagef("--pci-msitranslate %d: 0 or 1", g)
		}
		if dm := c.String("device-model"); dm != msi.QemuXen && dm != msi.QemuXenTraditional {
			return usagef("--device-model %q: qemu-xen or qemu-xen-traditional", dm)
		}
		for _, s := range c.Args().Slice() {
			it, err := hotplug.MSIDeviceOf(s)
			if err != nil {
				return err
			}
			req.Devices = append(req.Devices, it)
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		rep, err := svc.MSI(req)
		if err != nil {
			return err
		}
		for _, b := range rep.Missing {
			fmt.Fprintf(c.App.ErrWriter, "xlpt: msi: no PCI device %s\n", b)
		}
		if err := o.emit(report.MSI(rep), func(w io.Writer) {
			for _, r := range rep.Devices {
				printMSI(w, r)
			}
		}); err != nil {
			return err
		}
		if len(rep.Missing) > 0 {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

func pm(b bool) string {
	if b {
		return "+"
	}
	return "-"
}

func printMSI(w io.Writer, r hotplug.MSIDevice) {
	b, m, x, unread, problems, t := r.BDF, r.MSI, r.MSIX, r.Incomplete, r.Problems, r.Translation
	fmt.Fprintf(w, "%s\n", b)
	for _, u := range unread {
		fmt.Fprintf(w, "  (incomplete: %s)\n", u)
	}
	if m == nil {
		fmt.Fprintln(w, "  MSI:   none")
	} else {
		fmt.Fprintf(w, "  MSI:   [%02x] Enable%s Count=%d/%d Maskable%s 64bit%s", m.Offset, pm(m.Enabled), m.Allocated, m.Capable, pm(m.PerVectorMask), pm(m.Is64Bit))
		if m.Truncated {
			fmt.Fprint(w, " (truncated)")
		}
		fmt.Fprintf(w, "\n         Address: %016x  Data: %04x\n", m.Address, m.Data)
		if m.PerVectorMask {
			fmt.Fprintf(w, "         Masking: %08x  Pending: %08x\n", m.Mask, m.Pending)
		}
	}
	if x == nil {
		fmt.Fprintln(w, "  MSI-X: none")
	} else {
		fmt.Fprintf(w, "  MSI-X: [%02x] Enable%s Count=%d Masked%s\n", x.Offset, pm(x.Enabled), x.TableSize, pm(x.FunctionMask))
		fmt.Fprintf(w, "         Vector table: BAR=%d offset=%08x\n         PBA: BAR=%d offset=%08x\n", x.TableBIR, x.TableOffset, x.PBABIR, x.PBAOffset)
	}
	for _, p := range problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	fmt.Fprintf(w, "  msitranslate: %d (%s); effective: %v\n    %s\n", b2i(t.Requested), t.FromText, t.Effective, t.Reason)
	for _, s := range t.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", s)
	}
	for _, s := range t.Problems {
		fmt.Fprintf(w, "  problem: %s\n", s)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
