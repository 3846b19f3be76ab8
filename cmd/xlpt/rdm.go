package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/getopt"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

// Flags shared by rdm list and rdm check: where regions come from.
var rdmSourceFlags = []cli.Flag{
	&cli.StringFlag{Name: "xen-cmdline", Usage: "Xen's `CMDLINE`, for its rmrr= options (the xen_commandline line of xl info)"},
	&getopt.Repeated{GenericFlag: cli.GenericFlag{Name: "rmrr", Usage: "Add regions in Xen's rmrr= syntax, e.g. 0xf0-0xff=0000:00:03.0 (repeatable)"}},
	&cli.BoolFlag{Name: "no-xen", Usage: "Do not ask Xen (libxenctrl); use the DMAR table and rmrr= only"},
	&cli.BoolFlag{Name: "no-dmar", Usage: "Do not read the ACPI DMAR table"},
}

var rdmCommand = &cli.Command{
	Name:        "rdm",
	Usage:       "Show reserved device memory (RMRR) regions and check guests against them",
	Description: help.Of("rdm"),
	Subcommands: []*cli.Command{rdmListCommand, rdmCheckCommand},
}

var rdmListCommand = &cli.Command{
	Name:        "list",
	Usage:       "List reserved regions, where they come from and the devices that use them",
	ArgsUsage:   "[BDF...]",
	Description: help.Of("rdm list"),
	Flags:       append([]cli.Flag{jsonFlag}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		var want []xl.PciBdf
		for _, a := range c.Args().Slice() {
			b, all, err := xl.ParseBdf(a)
			if err != nil || all {
				return usagef("malformed BDF %q", a)
			}
			want = append(want, b)
		}
		o := newOutput(c)
		defer o.flush()
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		regs, notes, err := svc.ListRegions(regionSources(c), want)
		o.warn(notes...)
		if err != nil {
			return err
		}
		return o.emit(report.Regions(regs), func(w io.Writer) { printRegions(w, regs) })
	},
}

func printRegions(out io.Writer, regs []rdm.Region) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "START\tEND\tPAGES\tSOURCE\tSHARED\tDEVICES")
	for _, r := range regs {
		shared := "no"
		if r.Shared() {
			shared = "yes"
		}
		devs := r.DeviceList()
		if devs == "" {
			devs = "-"
		}
		fmt.Fprintf(w, "%#x\t%#x\t%d\t%s\t%s\t%s\n", r.Start(), r.End()-1, r.NrPages, sources(r), shared, devs)
	}
	w.Flush()
}

func sources(r rdm.Region) string {
	s := make([]string, len(r.Sources))
	for i, x := range r.Sources {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

// regionSources is where regions come from, as the rdm flags say.
func regionSources(c *cli.Context) hotplug.RegionSources {
	return hotplug.RegionSources{NoXen: c.Bool("no-xen"), NoDMAR: c.Bool("no-dmar"), RMRR: getopt.Values(c, "rmrr"),
		XenCmdline: c.String("xen-cmdline")}
}

var rdmCheckCommand = &cli.Command{
	Name:        "check",
	Usage:       "Predict what libxl 4.17 does with reserved regions when it builds an HVM guest",
	Description: help.Of("rdm check"),
	Flags: append([]cli.Flag{jsonFlag,
		&cli.StringFlag{Name: "guest-cfg", Usage: "Read the guest from its xl.cfg `FILE` (as xl 4.17 reads it) instead of the flags below"},
		&cli.Uint64Flag{Name: "memory", Usage: "memory= in MiB (required without --guest-cfg)"},
		&cli.Uint64Flag{Name: "maxmem", Usage: "maxmem= in MiB (default: memory)"},
		&getopt.Repeated{GenericFlag: cli.GenericFlag{Name: "pci", Usage: "A pci= entry (PCI_SPEC_STRING), repeatable"}},
		&cli.StringFlag{Name: "rdm", Usage: `rdm= setting, "strategy=host|ignore,policy=strict|relaxed"`},
		&cli.Uint64Flag{Name: "rdm-mem-boundary", Value: rdm.DefaultMemBoundaryMiB, Usage: "rdm_mem_boundary= in MiB"},
		&cli.Uint64Flag{Name: "mmio-hole", Usage: "mmio_hole= in MiB (0: libxl's 256)"},
		&cli.StringFlag{Name: "vga", Value: "cirrus", Usage: "vga= (cirrus, stdvga, qxl, none): sets the video memory libxl takes out of maxmem"},
		&cli.Uint64Flag{Name: "videoram", Usage: "videoram= in MiB (default: libxl's for --vga)"},
		&cli.StringFlag{Name: "device-model", Value: "qemu-xen", Usage: "device_model_version= (qemu-xen or qemu-xen-traditional)"},
		&cli.BoolFlag{Name: "hap", Value: true, Usage: "hap= (2 MiB alignment of a moved low memory end)"},
		&cli.StringFlag{Name: "as", Value: "xl", Usage: "Read --rdm as xl 4.17 does (xl) or as written (libxl)"},
	}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		if err := args(c, 0, 0); err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		g, warnings, err := rdmGuest(c)
		if err != nil {
			return err
		}
		o.warn(warnings...)
		svc, err := envOf(c).service(c, false)
		if err != nil {
			return err
		}
		res, notes, err := svc.CheckRdm(g, regionSources(c))
		o.warn(notes...)
		if err != nil {
			return err
		}
		if err := o.emit(report.Rdm(g, res), func(w io.Writer) { printRdmCheck(w, g, res) }); err != nil {
			return err
		}
		if res.Fails {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

// rdmGuest is the guest of rdm check: from --guest-cfg, else from the
// flags that give its xl.cfg keys one by one.
func rdmGuest(c *cli.Context) (rdm.Guest, []string, error) {
	if path := c.String("guest-cfg"); path != "" {
		return hotplug.RdmGuestFile(path)
	}
	if !c.IsSet("memory") {
		return rdm.Guest{}, nil, usagef("give --guest-cfg FILE, or the guest with --memory (and --pci, --rdm ...)")
	}
	s := rdm.Settings{MemoryMiB: c.Uint64("memory"), MaxMemMiB: c.Uint64("maxmem"), MMIOHoleMiB: c.Uint64("mmio-hole"),
		HAP: c.Bool("hap"), MemBoundaryMiB: c.Uint64("rdm-mem-boundary"), Rdm: c.String("rdm"), RdmSet: c.IsSet("rdm")}
	dm := c.String("device-model")
	if dm != "qemu-xen" && dm != "qemu-xen-traditional" {
		return rdm.Guest{}, nil, usagef("--device-model %q: qemu-xen or qemu-xen-traditional", dm)
	}
	s.VideoMiB = c.Uint64("videoram")
	if !c.IsSet("videoram") {
		v, err := rdm.DefaultVideoMiB(c.String("vga"), dm == "qemu-xen-traditional")
		if err != nil {
			return rdm.Guest{}, nil, usagef("--vga: %v", err)
		}
		s.VideoMiB = v
	}
	switch as := c.String("as"); as {
	case "xl", "libxl":
		s.AsXL = as == "xl"
	default:
		return rdm.Guest{}, nil, usagef("--as %q: xl or libxl", as)
	}
	for _, spec := range getopt.Values(c, "pci") {
		d, err := xl.ParseSpec(spec)
		if err != nil {
			return rdm.Guest{}, nil, err
		}
		if d.VfuncMask == 0 {
			return rdm.Guest{}, nil, usagef("--pci %q: name= specs need the assignable list; give the BDF", spec)
		}
		s.Devices = append(s.Devices, d)
	}
	g, warnings, err := s.Guest()
	if err != nil {
		return g, warnings, usageError{err}
	}
	return g, warnings, nil
}

func printRdmCheck(w io.Writer, g rdm.Guest, res rdm.Result) {
	fmt.Fprintf(w, "guest memory: %d MiB of RAM (maxmem %d MiB less %d MiB video)\n", res.Initial.MemSize/rdm.MiB, (res.Initial.MemSize/rdm.MiB)+g.VideoMiB, g.VideoMiB)
	fmt.Fprintf(w, "  layout before RDM: %s\n", res.Initial)
	if res.Final != res.Initial {
		fmt.Fprintf(w, "  layout after RDM:  %s\n", res.Final)
	}
	fmt.Fprintf(w, "rdm: strategy=%v, global policy %v, boundary %d MiB\n", g.Rdm.Strategy, g.EffectivePolicy(), g.BoundaryMiB())
	if len(res.Regions) == 0 {
		fmt.Fprintln(w, "regions: none considered (strategy=ignore and no guest device has one)")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tDEVICES\tPOLICY\tOUTCOME")
		for _, r := range res.Regions {
			devs := r.Region.DeviceList()
			if devs == "" {
				devs = "-"
			}
			out := string(r.Outcome)
			if r.AfterFailure {
				out += " (not reached: libxl already failed)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.Region, devs, r.Policy, out)
			fmt.Fprintf(tw, "  \t\t\t%s\n", r.Reason)
		}
		tw.Flush()
	}
	for _, a := range res.Assign {
		fmt.Fprintf(w, "shared region %s of %s (%v): %s\n", a.Region, a.Device, a.Policy, a.Message)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "libxl/Xen error: %s\n", e)
	}
	for _, e := range res.Warnings {
		fmt.Fprintf(w, "libxl/Xen warning: %s\n", e)
	}
	if res.Fails {
		fmt.Fprintln(w, "verdict: the guest would fail to start")
	} else {
		fmt.Fprintln(w, "verdict: the guest would start")
	}
}
