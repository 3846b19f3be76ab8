package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/clidoc"
)

// genDocsCommand writes the man page and the bash completion script from
// the command definitions (make man, make completion, make install). It is
// hidden: it is for the build, not for operators.
var genDocsCommand = &cli.Command{
	Name:      "gen-docs",
	Usage:     "Write xlpt.1 (man) or the bash completion script (bash) to stdout",
	ArgsUsage: "man|bash",
	Hidden:    true,
	Action: func(c *cli.Context) error {
		if err := args(c, 1, 1); err != nil {
			return err
		}
		switch c.Args().First() {
		case "man":
			_, err := fmt.Fprint(c.App.Writer, clidoc.Man(c.App, manPage()))
			return err
		case "bash":
			_, err := fmt.Fprint(c.App.Writer, clidoc.Bash(c.App, completion))
			return err
		}
		return usagef("%q: want man or bash", c.Args().First())
	},
}

// manPage dates the page by SOURCE_DATE_EPOCH (the commit's date, from
// the Makefile) so that a build is reproducible.
func manPage() clidoc.Page {
	date := time.Now().UTC()
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		date = time.Unix(s, 0).UTC()
	}
	return clidoc.Page{Section: "1", Date: date.Format("2006-01-02"), Manual: "Xen PCI passthrough",
		Extra: []clidoc.Section{
			{Title: "Exit status", Text: `As xl's: 0 done. 1 the operation failed or was refused (by xlpt's rules,
libxl or Xen); also check when a named device is missing, rdm check and cfg
check when the guest would not start, restore when an entry was refused or
failed (these still print their report). 2 malformed input: a bad spec,
flag, argument count or unknown command; nothing was read or changed.`},
			{Title: "Files", Items: [][2]string{
				{"/etc/xlpt/xlpt.conf", "Host settings (hotplug_slots = 6-7, state_dir = /var/lib/xlpt, lock_timeout = 30); a missing file means the defaults."},
				{"/etc/xlpt/devices.conf", "The persisted host setup (--config-dir names another directory): SR-IOV VF counts and hidden devices, written by --persist on pci-assignable-add, pci-assignable-remove, sriov enable and sriov disable, applied by xlpt restore at boot. Its header documents the format; hand edits are fine."},
				{"/lib/systemd/system/xlpt-restore.service", "Runs xlpt restore at boot, before xendomains; the package enables it (it does nothing without devices.conf)."},
				{"/var/lib/xlpt", "The state directory: what pci-assignable-add remembers (original drivers, names), the intent records of changes in progress (journal/) and the host lock (lock)."},
				{"/usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids", "Device names, as lspci shows them (--pci-ids names another)."},
			}},
			{Title: "See also", Text: `xlpt-migrate(1), xl(1), xl.cfg(5), xl-pci-configuration(5), lspci(8).
In /usr/share/doc/xlpt: README.md (README.md.gz in the package), which
explains the same-domain rule, hot-plug slots, live migration and the
testbed; json.md (json.md.gz), every --json document; schema/xlpt-1.json
(.gz), their JSON Schema.`},
		}}
}

// The bash helpers are cheap: xl list for domains, sysfs listings for
// devices. PCI_SPEC_STRING and BDF complete to device addresses.
const completionHelpers = `_xlpt_domains() { xl list 2>/dev/null | awk 'NR > 1 { print $1 }'; }
# _xlpt_devices [DRIVER...]: the PCI addresses in sysfs (bound to one of the drivers).
_xlpt_devices() {
	local d
	if (($# == 0)); then
		for d in /sys/bus/pci/devices/*; do [[ -e $d ]] && echo "${d##*/}"; done
		return
	fi
	for d in "$@"; do
		for d in /sys/bus/pci/drivers/"$d"/[0-9a-f]*:*; do [[ -e $d ]] && echo "${d##*/}"; done
	done
}`

// xlpt reads global flags after the command name too (getopt.go).
var completion = clidoc.Completion{Helpers: completionHelpers, Words: completionWords, GlobalFlagsAnywhere: true}

func completionWords(cmd, what string) string {
	switch what {
	case "--driver":
		return "echo pciback pci-stub"
	case "--log-level":
		return "echo error warn info debug trace"
	case "--log-format":
		return "echo text json"
	case "--format":
		return "echo table xl"
	case "--device-model":
		return "echo qemu-xen qemu-xen-traditional"
	case "--vga":
		return "echo cirrus stdvga qxl none"
	case "--as":
		return "echo xl libxl"
	case "--pci-msitranslate":
		return "echo 0 1"
	case "--options":
		return "echo msitranslate= power_mgmt= permissive= seize= rdm_policy="
	case "--config", "--guest-cfg", "--pci-ids", "--plan":
		return clidoc.FilesWords
	case "--sysfs-root", "--proc-root", "--state-dir":
		return clidoc.DirsWords
	case "--pci":
		return "_xlpt_devices"
	case "FILE":
		return clidoc.FilesWords
	}
	switch {
	case strings.HasPrefix(what, "DOM"), what == "FROM", what == "TO":
		return "_xlpt_domains"
	case strings.Contains(what, "BDF") || strings.Contains(what, "SPEC"):
		// Devices a guest can take or give back are held by a stub driver.
		switch cmd {
		case "pci-attach", "pci-detach", "pci-assignable-remove", "pci-move":
			return "_xlpt_devices pciback pci-stub"
		}
		return "_xlpt_devices"
	}
	return ""
}
