package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
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
		argv := c.Args().Slice()
		if c.Bool("persisted") {
			set, err := persistedHideSet(c, o)
			if err != nil {
				return err
			}
			argv = set
		} else if err := args(c, 1, -1); err != nil {
			return err
		}
		type arg struct {
			b   xl.PciBdf
			all bool
			s   string
		}
		var as []arg
		for _, a := range argv {
			b, all, err := xl.ParseBdf(a)
			if err != nil {
				return usageError{err}
			}
			as = append(as, arg{b, all, a})
		}
		sys := envOf(c).sysfsNamed(false)
		var named []xl.PciBdf
		for _, a := range as {
			if !a.all {
				named = append(named, a.b)
			}
		}
		host, err := sys.Read(named...)
		if err != nil {
			return fmt.Errorf("read the host's PCI devices: %w", err)
		}
		var set []xl.PciBdf
		for _, a := range as {
			if a.all {
				fns := host.Functions(a.b.Slot())
				if len(fns) == 0 {
					// A slot of SR-IOV VFs: pciback claims each VF listed
					// when its PF's driver creates it.
					fns = slotVFs(host, a.b.Slot())
					if len(fns) > 0 {
						o.note(fmt.Sprintf("%s: SR-IOV VFs; they exist once their PF's driver creates them (sriov_numvfs), and pciback claims them then", a.s))
					}
				}
				if len(fns) == 0 {
					return fmt.Errorf("%q: no such device on this host", a.s)
				}
				set = append(set, fns...)
				continue
			}
			if _, ok := host.Device(a.b); !ok {
				return fmt.Errorf("%q: no such device on this host", a.s)
			}
			set = append(set, a.b)
		}
		uses, err := sys.InUse()
		if err != nil {
			o.warn(err.Error())
		}
		for _, b := range set {
			for _, r := range host.Refusals(b, uses) {
				o.warn(fmt.Sprintf("%s: %s", b, r))
			}
		}
		o.warn(host.SplitGroups(set)...)
		line := pcibind.HideCmdline(set)
		return o.emit(&hideDoc{Cmdline: line, Devices: set}, func(w io.Writer) { fmt.Fprintln(w, line) })
	},
}

// hideDoc is hide-cmdline's --json document.
type hideDoc struct {
	envelope
	Cmdline string      `json:"cmdline"`
	Devices []xl.PciBdf `json:"devices"`
}

// slotVFs is every SR-IOV VF in a slot (Functions leaves VFs out: they are
// not functions of one multi-function device).
func slotVFs(host *pcibind.Host, slot xl.PciBdf) []xl.PciBdf {
	var out []xl.PciBdf
	for _, b := range slot.Functions() {
		if d, ok := host.Device(b); ok && d.IsVF() {
			out = append(out, b)
		}
	}
	return out
}

// persistedHideSet is --persisted's device list: the host setup's pciback
// devices; what boot-time hiding cannot take is said in notes.
func persistedHideSet(c *cli.Context, o *output) ([]string, error) {
	if err := args(c, 0, 0); err != nil {
		return nil, usagef("--persisted takes no BDF: %w", err)
	}
	p, err := hotplug.LoadPersist(envOf(c).ConfigDir)
	if err != nil {
		return nil, usagef("host setup: %w", err)
	}
	set, notes := p.HideCmdlineSet()
	o.note(notes...)
	if len(set) == 0 {
		return nil, fmt.Errorf("%s lists no device for pciback to hide at boot (pci-assignable-add --persist records one)", p.Path)
	}
	out := make([]string, len(set))
	for i, b := range set {
		out[i] = b.String()
	}
	return out, nil
}
