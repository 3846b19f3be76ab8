package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/xl"
)

var checkCommand = &cli.Command{
	Name:      "check",
	Usage:     "Say whether host PCI devices are ready for passthrough, and why not",
	ArgsUsage: "[BDF...]",
	Description: `For each device (all of them when no BDF is given): its driver and owner
(a dom0 driver, pciback or pci-stub, or the domain libxl gave it to when a
hypervisor is there), conventional PCI or PCIe, its same-domain group
(devices behind one PCIe-to-PCI or PCI bridge must go to one domain), reset
methods, MSI/MSI-X, SR-IOV role, and a verdict: ready, needs hiding,
caution: ..., or refused: ... (host and PCI bridges, SR-IOV PFs with VFs,
devices dom0 needs now). Reads only; needs root to see whole config spaces.

Examples:
   xlpt check
   xlpt check 03:00.0 03:00.1
   xlpt --sysfs-root capture/sys check --json   (capture/proc beside it)`,
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "no-libxl", Usage: "Do not ask libxl which domain holds which device"},
	},
	Action: func(c *cli.Context) error {
		req := hotplug.CheckRequest{NoLibxl: c.Bool("no-libxl")}
		for _, a := range c.Args().Slice() {
			b, all, err := xl.ParseBdf(a)
			if err != nil {
				return usageError{err}
			}
			if all {
				req.Devices = append(req.Devices, b.Functions()...)
				continue
			}
			req.Devices = append(req.Devices, b)
		}
		o := newOutput(c)
		defer o.flush()
		e := envOf(c)
		if n := e.pciIDsNote(); n != "" {
			o.note(n)
		}
		if len(req.Devices) == 0 {
			defer fullScanGC()()
		}
		svc, err := e.service(c, true)
		if err != nil {
			return err
		}
		rep, err := svc.Check(req)
		if err != nil {
			return err
		}
		o.warn(rep.Warnings...)
		start := time.Now()
		doc := &checkDoc{CheckReport: rep}
		if err := o.emit(doc, func(w io.Writer) { printCheckReport(w, rep) }); err != nil {
			return err
		}
		timing.Log(logger(), "output", start)
		if rep.Missing > 0 {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

// checkDoc is check's --json document.
type checkDoc struct {
	envelope
	hotplug.CheckReport
}

// writeJSON is the report's fast road out (output.emit takes it): a full
// scan's device list is megabytes, written by hand.
func (d *checkDoc) writeJSON(w io.Writer) error {
	devs := d.Devices
	d.Devices = []hotplug.DeviceReport{}
	defer func() { d.Devices = devs }()
	return hotplug.WriteReportJSON(w, d, devs)
}

// fullScanGC turns the collector off for a full scan, up to a memory
// limit, unless GOGC or GOMEMLIMIT say otherwise; the returned func puts
// back what was. A scan allocates some 3 KB a function (about 14 MB for
// 4,096), most of it kept to the end of the run: collecting costs the
// scan some 5 % and frees little. The limit keeps far larger hosts
// collected.
func fullScanGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(1 << 30)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

func printCheckReport(w io.Writer, rep hotplug.CheckReport) {
	for i, d := range rep.Devices {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if !d.Present {
			fmt.Fprintf(w, "%s  no such device\n", d.BDF)
			continue
		}
		if name := d.SysfsName(); name != "" {
			fmt.Fprintf(w, "%s\n  %-12s %s\n  %-12s - %s\n", name, "verdict", d.Verdict, "", d.Message)
			continue
		}
		fmt.Fprintf(w, "%s  %s [%s:%s]\n", d.BDF, orDash(d.Name), d.Vendor, d.Device)
		row := func(k, v string) { fmt.Fprintf(w, "  %-12s %s\n", k, v) }
		row("driver", orDash(d.Driver))
		row("owner", d.Owner)
		if d.OriginalDriver != "" {
			row("gives back", "to "+d.OriginalDriver)
		}
		bus := d.Bus
		if d.PortType != "" {
			bus += " " + d.PortType
		}
		if d.Bridge != "" && d.Bridge != d.PortType {
			bus += ", " + d.Bridge
		}
		row("bus", bus)
		if d.GroupBridge != nil {
			row("group", fmt.Sprintf("%s (behind %s: one domain for all)", xl.JoinBdfs(d.Group), d.GroupBridge))
		}
		reset := strings.Join(d.ResetMethods, " ")
		if d.FLR {
			reset += " (FLR)"
		}
		row("reset", orDash(strings.TrimSpace(reset)))
		var irq []string
		if d.MSI {
			irq = append(irq, "MSI")
		}
		if d.MSIX {
			irq = append(irq, "MSI-X")
		}
		row("interrupts", orDash(strings.Join(irq, " ")))
		if s := d.SRIOV; s != nil {
			if s.Role == "pf" {
				row("sr-iov", fmt.Sprintf("PF with %d/%d VFs", s.Num, s.Total))
			} else if s.PF != nil {
				row("sr-iov", "VF of "+s.PF.String())
			}
		}
		for _, u := range d.Unread {
			row("unread", u)
		}
		row("verdict", strings.ReplaceAll(d.Verdict, "_", " "))
		for _, r := range d.Reasons {
			row("", "- "+r)
		}
	}
}
