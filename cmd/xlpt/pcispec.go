package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var pciSpecCommand = &cli.Command{
	Name:        "pci-spec",
	Usage:       "Explain PCI_SPEC_STRINGs as xl and libxl will read them",
	ArgsUsage:   "SPEC...",
	Description: help.Of("pci-spec"),
	Flags:       []cli.Flag{jsonFlag},
	Action: func(c *cli.Context) error {
		if err := args(c, 1, -1); err != nil {
			return err
		}
		o := newOutput(c)
		defer o.flush()
		doc := report.Specs(c.Args().Slice())
		for _, s := range doc.Specs {
			if s.Device == nil {
				fmt.Fprintf(c.App.ErrWriter, "xlpt: pci-spec: %s\n", s.Message)
			}
		}
		if err := o.emit(doc, func(w io.Writer) {
			for _, s := range doc.Specs {
				if s.Device != nil {
					explainSpec(w, s.Spec, *s.Device)
				}
			}
		}); err != nil {
			return err
		}
		if !doc.OK() {
			return exitStatus(exitUsage)
		}
		return nil
	},
}

func explainSpec(w io.Writer, spec string, d xl.DevicePci) {
	fmt.Fprintf(w, "%s\n", spec)
	switch {
	case d.VfuncMask == 0:
		fmt.Fprintf(w, "  device      the one named %q at pci-assignable-add time\n", d.Name)
	case d.AllFuncs():
		fmt.Fprintf(w, "  device      every function of %02x:%02x (segment %04x); xlpt attaches them one by one\n", d.Bus, d.Dev, d.Domain)
	case d.Func != 0:
		fmt.Fprintf(w, "  device      %s (the guest sees it as function 0 of its slot)\n", d.PciBdf)
	default:
		fmt.Fprintf(w, "  device      %s\n", d.PciBdf)
	}
	if d.VSlot() == 0 {
		fmt.Fprintf(w, "  guest slot  any free one (HVM: xlpt picks from the hot-plug slots; PV: pcifront decides)\n")
	} else {
		fmt.Fprintf(w, "  guest slot  0x%02x (vdevfn 0x%02x; ignored for PV guests)\n", d.VSlot(), d.Vdevfn)
	}
	var opts []string
	for _, o := range []struct {
		key  string
		on   bool
		what string
	}{
		{"permissive", d.Permissive, "the guest may write config space pciback would filter"},
		{"msitranslate", d.Msitranslate, "MSI translated to INTx (qemu-traditional only)"},
		{"power_mgmt", d.PowerMgmt, "the guest may change the device's power state"},
		{"seize", d.Seize, "make it assignable first if dom0 still holds it"},
	} {
		if o.on {
			opts = append(opts, fmt.Sprintf("%s=1 (%s)", o.key, o.what))
		}
	}
	if len(opts) == 0 {
		opts = []string{"none"}
	}
	fmt.Fprintf(w, "  options     %s\n", strings.Join(opts, "; "))
	switch d.RdmPolicy {
	case xl.RdmPolicyStrict, xl.RdmPolicyRelaxed:
		fmt.Fprintf(w, "  rdm_policy  %s\n", d.RdmPolicy)
	default:
		fmt.Fprintf(w, "  rdm_policy  unset (xl.cfg's rdm= policy applies at creation; libxl uses strict on hot-plug)\n")
	}
}
