package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var persistFlag = &cli.BoolFlag{Name: "persist",
	Usage: "Also record the change in the host setup (CONFIG-DIR/devices.conf), which xlpt restore applies at boot"}

var sriovCommand = &cli.Command{
	Name:        "sriov",
	Usage:       "List, enable and disable SR-IOV virtual functions",
	Description: help.Of("sriov"),
	Subcommands: []*cli.Command{sriovListCommand, sriovEnableCommand, sriovDisableCommand},
}

var sriovListCommand = &cli.Command{
	Name:        "list",
	Usage:       "List every SR-IOV PF with its VFs and who holds each",
	Description: help.Of("sriov list"),
	Flags:       []cli.Flag{jsonFlag},
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
		pfs, err := svc.SRIOVList()
		if err != nil {
			return err
		}
		return o.emit(report.SRIOVList(pfs), func(w io.Writer) { printSRIOVList(w, pfs) })
	},
}

func printSRIOVList(w io.Writer, pfs []hotplug.PFInfo) {
	if len(pfs) == 0 {
		fmt.Fprintln(w, "no SR-IOV PF on this host")
	}
	for _, pf := range pfs {
		numbering := fmt.Sprintf("offset %d, stride %d", pf.Offset, pf.Stride)
		if pf.Offset == 0 {
			numbering = "offset and stride not reported"
		}
		fmt.Fprintf(w, "PF %s %s %s: %d of %d VFs enabled (%s, drivers_autoprobe %d)\n",
			pf.PF, pf.ID, orDash(pf.Driver), pf.NumVFs, pf.TotalVFs, numbering, b2i(pf.Autoprobe))
		for _, v := range pf.VFs {
			irq := []string{}
			if v.MSI {
				irq = append(irq, "MSI")
			}
			if v.MSIX {
				irq = append(irq, "MSI-X")
			}
			if len(irq) == 0 {
				irq = append(irq, "no MSI/MSI-X")
			}
			line := fmt.Sprintf("  VF %-3d %s  %-9s %-45s %s", v.Index, v.BDF, orDash(v.Driver), v.OwnerStr, strings.Join(irq, ","))
			if v.Problem != "" {
				line += "  PROBLEM: " + v.Problem
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var sriovEnableCommand = &cli.Command{
	Name:        "enable",
	Usage:       "Create N VFs on a PF (through 0 when it has some), optionally hiding them",
	ArgsUsage:   "[--assignable [--driver pciback|pci-stub]] [--persist] PF N",
	Description: help.Of("sriov enable"),
	Flags: []cli.Flag{jsonFlag, persistFlag,
		&cli.BoolFlag{Name: "assignable", Usage: "Hide every VF so it can be passed through"},
		&cli.StringFlag{Name: "driver", Value: pcibind.DriverPciback, Usage: "Stub driver for --assignable: pciback or pci-stub"},
		&cli.DurationFlag{Name: "wait", Value: hotplug.DefaultVFWait, Usage: "How long to wait for the VFs to appear"},
	},
	Action: func(c *cli.Context) error {
		if err := args(c, 2, 2); err != nil {
			return err
		}
		pf, err := xl.ParseFunction(c.Args().Get(0))
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(c.Args().Get(1))
		if err != nil || n < 1 {
			return usagef("N %q: a number of VFs, 1 or more (xlpt sriov disable %s removes them all)", c.Args().Get(1), c.Args().Get(0))
		}
		drv, err := stubDriver(c)
		if err != nil {
			return err
		}
		return setVFs(c, hotplug.SRIOVRequest{PF: pf, NumVFs: n, Assignable: c.Bool("assignable"), Driver: drv, Wait: c.Duration("wait")})
	},
}

var sriovDisableCommand = &cli.Command{
	Name:        "disable",
	Usage:       "Remove every VF of a PF",
	ArgsUsage:   "[--persist] PF",
	Description: help.Of("sriov disable"),
	Flags:       []cli.Flag{jsonFlag, persistFlag},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		pf, err := xl.ParseFunction(c.Args().First())
		if err != nil {
			return err
		}
		return setVFs(c, hotplug.SRIOVRequest{PF: pf, NumVFs: 0})
	},
}

func setVFs(c *cli.Context, req hotplug.SRIOVRequest) error {
	o := newOutput(c)
	defer o.flush()
	svc, err := envOf(c).service(c, false)
	if err != nil {
		return err
	}
	start := time.Now()
	req.Persist = c.Bool("persist")
	res, err := svc.SetVFs(req)
	o.warn(res.Warnings...)
	if err != nil {
		return err
	}
	return o.emit(report.SRIOVSet(res, time.Since(start)), func(w io.Writer) { printSetVFs(w, req, res) })
}

func printSetVFs(w io.Writer, req hotplug.SRIOVRequest, res hotplug.SRIOVResult) {
	for _, vf := range res.Released {
		fmt.Fprintf(w, "%s released from pciback before its removal\n", vf)
	}
	ch := res.Change
	switch {
	case !res.Changed:
		fmt.Fprintf(w, "%s already has %d VFs\n", req.PF, ch.To)
	case ch.To == 0:
		fmt.Fprintf(w, "%s: VFs disabled (had %d)\n", req.PF, ch.From)
	default:
		via := ""
		if ch.ThroughZero {
			via = fmt.Sprintf(", through 0 from %d", ch.From)
		}
		fmt.Fprintf(w, "%s: %d VFs enabled (%s) in %.2fs%s\n", req.PF, ch.To, xl.JoinBdfs(ch.VFs), ch.Waited.Seconds(), via)
	}
	if res.AutoprobeOff {
		fmt.Fprintf(w, "%s: sriov_drivers_autoprobe set to 0 (no dom0 driver probes its VFs)\n", req.PF)
	}
	for _, h := range res.Hidden {
		fmt.Fprintf(w, "%s is assignable (on %s, was %s)\n", h.BDF, h.To, hotplug.OrNone(h.From))
	}
	if res.Persisted != "" {
		fmt.Fprintf(w, "recorded in %s\n", res.Persisted)
	}
}
