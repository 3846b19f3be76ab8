package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xlcfg"
)

var cfgCommand = &cli.Command{
	Name:        "cfg",
	Usage:       "Check and edit the passthrough settings of a guest's xl.cfg",
	Description: help.Of("cfg"),
	Subcommands: []*cli.Command{cfgCheckCommand, cfgAddPciCommand, cfgRemovePciCommand},
}

var cfgCheckCommand = &cli.Command{
	Name:        "check",
	Usage:       "Say, before xl create, whether the guest's devices will work",
	ArgsUsage:   "FILE",
	Description: help.Of("cfg check"),
	Flags:       append([]cli.Flag{jsonFlag}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		path := c.Args().First()
		chk, err := checkGuestFile(c, o, path)
		if err != nil {
			return err
		}
		if err := o.emit(report.CfgCheck(chk), func(w io.Writer) { printReport(w, path, chk.Report) }); err != nil {
			return err
		}
		if chk.Report.Fails() {
			return exitStatus(exitFailed)
		}
		return nil
	},
}

// checkGuestFile is cfg check on one xl.cfg: the report, and its --json
// document.
func checkGuestFile(c *cli.Context, o *output, path string) (*report.GuestCheck, error) {
	svc, err := envOf(c).service(c, false)
	if err != nil {
		return nil, err
	}
	rep, err := svc.CheckGuestFile(path, regionSources(c))
	o.note(rep.Notes...)
	o.warn(rep.Warnings...)
	if err != nil {
		return nil, err
	}
	return report.CheckGuest(path, rep.GuestReport), nil
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
	Name:        "add-pci",
	Usage:       "Add a device to the pci list of an xl.cfg",
	ArgsUsage:   "FILE PCI_SPEC_STRING",
	Description: help.Of("cfg add-pci"),
	Flags:       append([]cli.Flag{jsonFlag}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		if err := args(c, 2, 2); err != nil {
			return err
		}
		path, spec := c.Args().Get(0), c.Args().Get(1)
		if err := xlcfg.AddPci(path, spec); err != nil {
			return err
		}
		return editDone(c, path, report.CfgAdded(path, spec),
			fmt.Sprintf("%s: added %q to pci", path, spec))
	},
}

// editDone checks the guest after an edit, as the help promises, and
// prints both. A guest that would now fail is a warning: the edit is done.
func editDone(c *cli.Context, path string, doc *report.CfgEditDoc, said string) error {
	o := newOutput(c)
	defer o.flush()
	chk, err := checkGuestFile(c, o, path)
	if err != nil {
		o.warn(fmt.Sprintf("the guest was not checked: %v", err))
	} else {
		doc.Check = chk
		if chk.Report.Fails() {
			o.warn(fmt.Sprintf("%s (xlpt cfg check %s says why)", chk.Message, path))
		}
	}
	return o.emit(doc, func(w io.Writer) {
		fmt.Fprintln(w, said)
		if chk != nil {
			printReport(w, path, chk.Report)
		}
	})
}

var cfgRemovePciCommand = &cli.Command{
	Name:        "remove-pci",
	Usage:       "Remove a device from the pci list of an xl.cfg",
	ArgsUsage:   "FILE BDF|PCI_SPEC_STRING",
	Description: help.Of("cfg remove-pci"),
	Flags:       append([]cli.Flag{jsonFlag}, rdmSourceFlags...),
	Action: func(c *cli.Context) error {
		if err := args(c, 2, 2); err != nil {
			return err
		}
		path := c.Args().Get(0)
		removed, d, err := xlcfg.RemovePci(path, c.Args().Get(1))
		if err != nil {
			return err
		}
		return editDone(c, path, report.CfgRemoved(path, removed),
			fmt.Sprintf("%s: removed %s from pci", path, d.Describe()))
	},
}
