package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var checkCommand = &cli.Command{
	Name:        "check",
	Usage:       "Say whether host PCI devices are ready for passthrough, and why not",
	ArgsUsage:   "[BDF...]",
	Description: help.Of("check"),
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "no-libxl", Usage: "Do not ask libxl which domain holds which device"},
		&cli.BoolFlag{Name: "oneline", Usage: "One line per device: address, verdict, owner, driver, name"},
		&cli.BoolFlag{Name: "summary", Usage: "Count the devices by verdict, owner and kind instead of listing them"},
		&cli.StringFlag{Name: "verdict", Usage: "Keep only devices with these verdicts (`LIST`, comma-separated: " + strings.Join(hotplug.CheckVerdicts, ", ") + ")"},
	},
	Action: func(c *cli.Context) error {
		req := hotplug.CheckRequest{NoLibxl: c.Bool("no-libxl")}
		if list := c.String("verdict"); list != "" {
			for _, v := range strings.Split(list, ",") {
				w, err := hotplug.ParseVerdict(v)
				if err != nil {
					return usagef("--verdict %q: %w", list, err)
				}
				req.Verdicts = append(req.Verdicts, w)
			}
		}
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
		if err := o.emit(report.Check(rep), func(w io.Writer) {
			if c.Bool("oneline") {
				printCheckLines(w, rep)
			} else if !c.Bool("summary") {
				printCheckReport(w, rep)
			}
			if c.Bool("summary") {
				printCheckSummary(w, rep.Summary)
			}
		}); err != nil {
			return err
		}
		timing.Log(logger(), "output", start)
		if rep.Missing > 0 {
			return exitStatus(exitFailed)
		}
		return nil
	},
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
		row("owner", d.OwnerText)
		if d.OriginalDriver != "" {
			row("gives back", "to "+d.OriginalDriver)
		}
		bus := string(d.Bus)
		if bus == "" {
			bus = "unknown"
		}
		if d.PortType != "" {
			bus += " " + words(d.PortType)
		}
		if d.Bridge != "" && d.Bridge != d.PortType {
			bus += ", " + words(d.Bridge)
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
		row("verdict", words(d.Verdict))
		for _, r := range d.Reasons {
			row("", "- "+r)
		}
	}
}

// printCheckLines is --oneline: a line per device, as lspci prints
// them, verdict and owner first.
func printCheckLines(out io.Writer, rep hotplug.CheckReport) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, d := range rep.Devices {
		switch {
		case d.SysfsName() != "":
			fmt.Fprintf(w, "%s\t%s\t-\t-\t%s\n", d.SysfsName(), d.Verdict, d.Message)
		case !d.Present:
			fmt.Fprintf(w, "%s\t%s\t-\t-\tno such device\n", d.BDF, d.Verdict)
		default:
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s [%s:%s]\n", d.BDF, d.Verdict, d.Owner, orDash(d.Driver), orDash(d.Name), d.Vendor, d.Device)
		}
	}
	w.Flush()
}

// printCheckSummary is --summary's text: the counts, a line each.
func printCheckSummary(w io.Writer, s hotplug.CheckSummary) {
	fmt.Fprintf(w, "%d devices\n", s.Devices)
	line := func(what string, m map[string]int, order []string) {
		var parts []string
		seen := map[string]bool{}
		for _, k := range order {
			if m[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", m[k], words(k)))
			}
			seen[k] = true
		}
		var rest []string
		for k := range m {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range rest {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], words(k)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  %-8s %s\n", what, strings.Join(parts, ", "))
		}
	}
	line("verdict", s.ByVerdict, hotplug.CheckVerdicts)
	line("owner", s.ByOwner, []string{"dom0_driver", "none", "assignable", "domain"})
	line("kind", s.ByKind, nil)
}

// words is an enumerated word as text shows it (root port).
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }
