package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/clidoc"
	"github.com/xlpt/xlpt/internal/help"
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
		Extra: help.Man()}
}

// completion completes with internal/help's shell functions, which are
// cheap (xl list for domains, sysfs listings for devices):
// PCI_SPEC_STRING and BDF complete to device addresses. xlpt reads
// global flags after the command name too (internal/getopt).
var completion = clidoc.Completion{Helpers: help.BashHelpers(), Words: completionWords, GlobalFlagsAnywhere: true}

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
