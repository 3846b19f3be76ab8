package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
)

var restoreCommand = &cli.Command{
	Name:        "restore",
	Usage:       "Apply the persisted host setup: SR-IOV VFs, then hidden devices",
	Description: help.Of("restore"),
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "Print what would be done; change nothing"}},
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
		start := time.Now()
		res, err := svc.Restore(c.Bool("dry-run"))
		if err != nil {
			return err
		}
		o.warn(res.Skipped...)
		if res.NoSetup && wantJSON(c) {
			o.note(noSetup(res.File)) // the text says it on stdout
		}
		took := time.Since(start)
		err = o.emit(report.Restore(res, took), func(w io.Writer) { printRestore(w, res, took) })
		if err == nil && !res.OK() {
			return exitStatus(exitFailed)
		}
		return err
	},
}

func printRestore(w io.Writer, res hotplug.RestoreResult, took time.Duration) {
	if len(res.Items) == 0 {
		if res.NoSetup {
			fmt.Fprintln(w, noSetup(res.File))
		} else {
			fmt.Fprintf(w, "nothing to restore: %s has no entries\n", res.File)
		}
		return
	}
	count := map[string]int{}
	for _, it := range res.Items {
		count[it.Outcome]++
		fmt.Fprintf(w, "%-11s %s\n", it.Outcome, it.Entry)
		if it.Detail != "" {
			fmt.Fprintf(w, "            %s\n", it.Detail)
		}
	}
	if res.DryRun {
		fmt.Fprintf(w, "dry run of %s: %d would apply, %d already so, %d refused\n", res.File,
			count[hotplug.RestoreWouldApply], count[hotplug.RestoreAlready], count[hotplug.RestoreRefused])
		return
	}
	fmt.Fprintf(w, "restored %s in %.2fs: %d applied, %d already so, %d refused, %d failed\n", res.File, took.Seconds(),
		count[hotplug.RestoreApplied], count[hotplug.RestoreAlready], count[hotplug.RestoreRefused], count[hotplug.RestoreFailed])
}

// noSetup says that there is no host setup to restore, and what writes one.
func noSetup(path string) string {
	return fmt.Sprintf("nothing to restore: there is no %s (pci-assignable-add --persist and sriov enable --persist write it)", path)
}
