package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

var cfgCommand = &cli.Command{
	Name:  "cfg",
	Usage: "Check and edit the passthrough settings of a guest's xl.cfg",
	Description: `Reads an xl.cfg exactly as xl 4.17 does (pci = [...], pci_msitranslate,
pci_power_mgmt, pci_permissive, pci_seize, rdm, rdm_mem_boundary,
passthrough, memory, maxmem, type, device_model_version).

Examples:
   xlpt cfg check /etc/xen/web01.cfg
   xlpt cfg add-pci /etc/xen/web01.cfg 0000:03:00.0@6
   xlpt cfg remove-pci /etc/xen/web01.cfg 0000:03:00.0`,
	Subcommands: []*cli.Command{cfgCheckCommand, cfgAddPciCommand, cfgRemovePciCommand},
}

var cfgCheckCommand = &cli.Command{
	Name:      "check",
	Usage:     "Say, before xl create, whether the guest's devices will work",
	ArgsUsage: "FILE",
	Description: `One report on every pci entry and the settings around it:
   - the spec as xl reads it (and what xl would silently misread);
   - the device exists on this host and is assignable (or seize=1);
   - same-domain groups are complete (conventional PCI behind a bridge);
   - guest slots do not collide;
   - reserved device memory (RMRR) against the guest's memory layout, with
     libxl 4.17's strict/relaxed outcome, and rdm= settings xl 4.17 drops;
   - msitranslate settings that will not take effect;
   - passthrough and memory settings that stop passthrough or hot-plug.
Exit status 1 when the guest would fail to start or a device would be
refused.`,
	Flags: append([]cli.Flag{jsonFlag}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		f, err := readCfg(c.Args().First())
		if err != nil {
			return err
		}
		g, pre := hotplug.ReadGuestConfig(f)
		check := hotplug.GuestCheck{}
		host, err := pcibind.New(c.String("sysfs-root")).Scan()
		var xen rdm.XenSource
		if err == nil {
			check.Host = host
			if ctx, err := openToolstack(); err == nil {
				defer ctx.Close()
				xen = ctx
				if own, err := hotplug.Owners(ctx, host); err == nil {
					check.Owner = own
				}
			} else {
				pre = append(pre, hotplug.Finding{Level: "warn", Subject: "owners", Message: fmt.Sprintf("%v: device owners are read from sysfs drivers only", err)})
			}
		} else {
			pre = append(pre, hotplug.Finding{Level: "warn", Subject: "host", Message: fmt.Sprintf("host PCI devices not read (%v): devices and groups not checked", err)})
		}
		if g.Type == xl.DomainTypeHVM {
			var bdfs []xl.PciBdf
			for _, e := range g.Entries {
				if e.Err == nil && e.Dev.VfuncMask != 0 {
					bdfs = append(bdfs, e.Dev.PciBdf)
				}
			}
			regions, notes, err := regionFinder(c, xen).Regions(bdfs)
			if err != nil {
				return err
			}
			for _, n := range notes {
				logrus.Info(n)
			}
			check.Regions = regions
		}
		r := check.CheckGuestConfig(g, pre)
		if wantJSON(c) {
			if err := printJSON(c.App.Writer, r); err != nil {
				return err
			}
		} else {
			printReport(c.App.Writer, c.Args().First(), r)
		}
		if r.Fails() {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

func readCfg(path string) (*xlcfg.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := xlcfg.Parse(string(b))
	if err != nil {
		return nil, usagef("%s: %w (xl would refuse this file)", path, err)
	}
	return f, nil
}

func printReport(w io.Writer, path string, r hotplug.GuestReport) {
	g := r.Config
	name := g.Name
	if name == "" {
		name = "(no name)"
	}
	fmt.Fprintf(w, "%s: guest %s, %s, memory %d MiB, maxmem %d MiB, %d pci entries\n",
		path, name, g.Type, g.MemoryMiB, g.MaxMemMiB, len(g.Entries))
	if r.Rdm != nil {
		fmt.Fprintf(w, "  guest memory layout: %s\n", r.Rdm.Final)
	}
	for _, f := range r.Findings {
		tag := map[string]string{"ok": "  ok  ", "warn": "  warn", "fail": "  FAIL"}[f.Level]
		fmt.Fprintf(w, "%s  %s: %s\n", tag, f.Subject, f.Message)
	}
	if r.Fails() {
		fmt.Fprintln(w, "verdict: the guest would fail to start, or a device would be refused")
	} else {
		fmt.Fprintln(w, "verdict: ready")
	}
}

var cfgAddPciCommand = &cli.Command{
	Name:      "add-pci",
	Usage:     "Add a device to the pci list of an xl.cfg",
	ArgsUsage: "FILE PCI_SPEC_STRING",
	Description: `Appends PCI_SPEC_STRING to pci = [...], leaving the rest of the file as it
was. The spec must be one xl reads as written, and its device must not be in
the list already. The file is replaced atomically after the new text has been
read back; then the guest is checked as by xlpt cfg check.`,
	Flags: []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		if err := args(c, 2, 2); err != nil {
			return err
		}
		path, spec := c.Args().Get(0), c.Args().Get(1)
		d, list, err := specAndPciList(path, spec)
		if err != nil {
			return err
		}
		for _, s := range list {
			if e, err := xl.ParseSpec(s); err == nil && sameDevice(e, d) {
				return fmt.Errorf("%s: %s is already in pci as %q", path, describe(d), s)
			}
		}
		if err := xlcfg.WriteList(path, "pci", append(list, spec)); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s: added %q to pci\n", path, spec)
		return nil
	},
}

var cfgRemovePciCommand = &cli.Command{
	Name:      "remove-pci",
	Usage:     "Remove a device from the pci list of an xl.cfg",
	ArgsUsage: "FILE BDF|PCI_SPEC_STRING",
	Description: `Removes every pci entry for the device (matched by BDF, or by name=),
leaving the rest of the file as it was; atomic, read back before it replaces
the file.`,
	Action: func(c *cli.Context) error {
		if err := args(c, 2, 2); err != nil {
			return err
		}
		path := c.Args().Get(0)
		d, list, err := specAndPciList(path, c.Args().Get(1))
		if err != nil {
			return err
		}
		var keep []string
		for _, s := range list {
			if e, err := xl.ParseSpec(s); err == nil && sameDevice(e, d) {
				continue
			}
			keep = append(keep, s)
		}
		if len(keep) == len(list) {
			return fmt.Errorf("%s: %s is not in pci (%d entries)", path, describe(d), len(list))
		}
		if err := xlcfg.WriteList(path, "pci", keep); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s: removed %s from pci\n", path, describe(d))
		return nil
	},
}

// specAndPciList parses the spec argument, then the file's pci list.
func specAndPciList(path, spec string) (xl.DevicePci, []string, error) {
	d, err := xl.ParseSpec(spec)
	if err != nil {
		return d, nil, err
	}
	f, err := readCfg(path)
	if err != nil {
		return d, nil, err
	}
	list, _, err := f.StringList("pci")
	return d, list, err
}

func sameDevice(a, b xl.DevicePci) bool {
	if a.VfuncMask == 0 || b.VfuncMask == 0 {
		return a.VfuncMask == b.VfuncMask && a.Name == b.Name
	}
	if a.AllFuncs() || b.AllFuncs() {
		return a.PciBdf.Slot() == b.PciBdf.Slot()
	}
	return a.PciBdf == b.PciBdf
}

func describe(d xl.DevicePci) string {
	if d.VfuncMask == 0 {
		return fmt.Sprintf("the device named %q", d.Name)
	}
	return d.PciBdf.String()
}
