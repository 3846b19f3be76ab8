package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
)

var recoverCommand = &cli.Command{
	Name:        "recover",
	Usage:       "Finish or undo what a killed xlpt (or xl) left half-done",
	Description: help.Of("recover"),
	Flags: []cli.Flag{jsonFlag,
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "Say what would be done; change nothing"}},
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
		rep, err := svc.Recover(c.Bool("dry-run"))
		if eerr := o.emit(report.Recover(rep), func(w io.Writer) { printRecovery(w, rep) }); eerr != nil {
			return eerr
		}
		return err
	},
}

func printRecovery(w io.Writer, rep hotplug.RecoverReport) {
	if len(rep.Records) == 0 {
		fmt.Fprintln(w, "no operation was left unfinished")
	}
	for _, r := range rep.Records {
		fmt.Fprintf(w, "unfinished: %s\n", r)
	}
	n := 0
	for _, f := range rep.Repairs {
		if f.Nothing() && f.Record == "" {
			continue
		}
		n++
		fmt.Fprintf(w, "%s: %s: %s", f.Device, f.Problem, f.Action)
		if f.Err != "" {
			fmt.Fprintf(w, ": FAILED: %s", f.Err)
		}
		fmt.Fprintln(w)
	}
	if n == 0 {
		fmt.Fprintln(w, "every device is consistent")
	}
}
