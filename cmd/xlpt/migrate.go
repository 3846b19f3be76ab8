package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/help"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var (
	planFlag   = &cli.StringFlag{Name: "plan", Usage: "The migration plan `FILE` (JSON; see the README); required"}
	mapFlag    = &cli.StringSliceFlag{Name: "map", Usage: "Use host device `NEW` for the plan's OLD (OLD=NEW, BDFs; repeatable)"}
	assignFlag = &cli.BoolFlag{Name: "assign", Usage: "Make devices dom0 still holds assignable first"}
)

// planArg is --plan, which every migrate command needs.
func planArg(c *cli.Context) (string, error) {
	if c.String("plan") == "" {
		return "", usagef("give the plan file: xlpt migrate %s --plan FILE ... (the same file for detach, attach and rollback)", c.Command.Name)
	}
	return c.String("plan"), nil
}

var migrateCommand = &cli.Command{
	Name:        "migrate",
	Usage:       "Take a guest's passthrough devices out for a live migration, and put them back",
	Description: help.Of("migrate"),
	Subcommands: []*cli.Command{migrateDetachCommand, migrateCheckCommand, migrateAttachCommand, migrateRollbackCommand, migrateStatusCommand},
}

var migrateDetachCommand = &cli.Command{
	Name:        "detach",
	Usage:       "Refuse a guest that cannot migrate, write the plan, detach every device",
	ArgsUsage:   "--plan FILE [--dry-run] DOMAIN",
	Description: help.Of("migrate detach"),
	Flags: []cli.Flag{jsonFlag, planFlag,
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Remove without the guest's consent"},
		&cli.IntFlag{Name: "timeout", Usage: "Keep asking a guest that does not answer an eject for `S` seconds (0: once)"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "Make every refusal, write the plan as a preview; detach nothing"},
	},
	Action: func(c *cli.Context) error {
		if c.Int("timeout") < 0 {
			return usagef("--timeout %d: give seconds, 0 or more", c.Int("timeout"))
		}
		return runMigration(c, func(m *hotplug.Migration) (hotplug.MigrateResult, error) {
			return m.Detach(hotplug.MigrateDetachRequest{Domain: c.Args().First(), Force: c.Bool("force"),
				Wait: time.Duration(c.Int("timeout")) * time.Second, DryRun: c.Bool("dry-run")})
		})
	},
}

var migrateCheckCommand = &cli.Command{
	Name:        "check",
	Usage:       "On the target, before the migration: say where attach would put each plan device; change nothing",
	ArgsUsage:   "--plan FILE [--map OLD=NEW ...] [--assign] [DOMAIN]",
	Description: help.Of("migrate check"),
	Flags: []cli.Flag{jsonFlag, planFlag, mapFlag,
		&cli.BoolFlag{Name: "assign", Usage: "Judge as attach --assign would: devices dom0 holds may be made assignable"}},
	Action: func(c *cli.Context) error {
		o := newOutput(c)
		defer o.flush()
		if err := args(c, 0, 1); err != nil {
			return err
		}
		plan, err := planArg(c)
		if err != nil {
			return err
		}
		mapping, err := parseMap(c.StringSlice("map"))
		if err != nil {
			return err
		}
		m, err := newMigration(c, plan)
		if err != nil {
			return err
		}
		res, err := m.Check(hotplug.MigrateCheckRequest{Domain: c.Args().First(), Map: mapping, Assign: c.Bool("assign")})
		o.warn(res.Warnings...)
		o.note(res.Notes...)
		if res.Plan != nil {
			if eerr := o.emit(report.MigrateCheck(res, plan), func(w io.Writer) { printCheckTargets(w, plan, res) }); eerr != nil {
				return eerr
			}
		}
		return err
	},
}

var migrateAttachCommand = &cli.Command{
	Name:        "attach",
	Usage:       "Put the plan's devices into the migrated guest, in their old slots",
	ArgsUsage:   "--plan FILE [--map OLD=NEW ...] [--assign] DOMAIN",
	Description: help.Of("migrate attach"),
	Flags:       []cli.Flag{jsonFlag, planFlag, mapFlag, assignFlag},
	Action: func(c *cli.Context) error {
		mapping, err := parseMap(c.StringSlice("map"))
		if err != nil {
			return err
		}
		return runMigration(c, func(m *hotplug.Migration) (hotplug.MigrateResult, error) {
			return m.Attach(hotplug.MigrateAttachRequest{Domain: c.Args().First(), Map: mapping, Assign: c.Bool("assign")})
		})
	},
}

var migrateRollbackCommand = &cli.Command{
	Name:        "rollback",
	Usage:       "After a failed migration, put the devices back into the guest on the source",
	ArgsUsage:   "--plan FILE DOMAIN",
	Description: help.Of("migrate rollback"),
	Flags:       []cli.Flag{jsonFlag, planFlag},
	Action: func(c *cli.Context) error {
		return runMigration(c, func(m *hotplug.Migration) (hotplug.MigrateResult, error) {
			return m.Rollback(c.Args().First())
		})
	},
}

var migrateStatusCommand = &cli.Command{
	Name:        "status",
	Usage:       "Say in one line where the plan's domain and devices are",
	ArgsUsage:   "--plan FILE",
	Description: help.Of("migrate status"),
	Flags:       []cli.Flag{jsonFlag, planFlag},
	Action: func(c *cli.Context) error {
		if err := args(c, 0, 0); err != nil {
			return err
		}
		path, err := planArg(c)
		if err != nil {
			return err
		}
		p, err := hotplug.FilePlan{Path: path}.Load()
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("no plan at %s", c.String("plan"))
		}
		return newOutput(c).emit(report.Plan(p), func(w io.Writer) { fmt.Fprintln(w, p.Status()) })
	},
}

// parseMap reads --map OLD=NEW pairs.
func parseMap(pairs []string) (map[string]xl.PciBdf, error) {
	out := map[string]xl.PciBdf{}
	for _, p := range pairs {
		old, nw, ok := strings.Cut(p, "=")
		ob, all1, err1 := xl.ParseBdf(old)
		nb, all2, err2 := xl.ParseBdf(nw)
		if !ok || err1 != nil || err2 != nil || all1 || all2 {
			return nil, usagef("--map %q: want OLD=NEW, two BDFs, e.g. 0000:03:00.0=0000:04:00.0", p)
		}
		out[ob.String()] = nb
	}
	return out, nil
}

// newMigration is the migration whose plan is the file at plan.
func newMigration(c *cli.Context, plan string) (*hotplug.Migration, error) {
	svc, err := envOf(c).service(c, false)
	if err != nil {
		return nil, err
	}
	return svc.Migration(plan), nil
}

func runMigration(c *cli.Context, op func(*hotplug.Migration) (hotplug.MigrateResult, error)) error {
	o := newOutput(c)
	defer o.flush()
	if err := args(c, 1, 1); err != nil {
		return err
	}
	plan, err := planArg(c)
	if err != nil {
		return err
	}
	m, err := newMigration(c, plan)
	if err != nil {
		return err
	}
	res, err := op(m)
	o.warn(res.Warnings...)
	if res.Plan != nil {
		if eerr := o.emit(report.Plan(res.Plan), func(w io.Writer) { printPlan(w, plan, res.Plan) }); eerr != nil {
			return eerr
		}
	}
	return err
}

// printPlan says where every device is, one line each, then the phase.
func printPlan(w io.Writer, path string, p *hotplug.Plan) {
	for _, d := range p.Devices {
		fmt.Fprintf(w, "%s  guest slot %s  %s\n", d.BDF, d.GuestSlot, p.Where(d))
	}
	fmt.Fprintf(w, "plan %s: %s %s\n", path, p.Domain, p.Phase)
}

// printCheckTargets says where each plan device would go, one line each
// ("SRC -> DST (how)", "SRC -> none"), then the verdict in one line.
func printCheckTargets(w io.Writer, path string, res hotplug.MigrateCheck) {
	for _, t := range res.Targets {
		if t.Target == "" {
			fmt.Fprintf(w, "%s -> none\n", t.BDF)
			continue
		}
		fmt.Fprintf(w, "%s -> %s (%s)\n", t.BDF, t.Target, t.How.Text())
	}
	guest := res.Plan.Domain
	if res.GuestType != "" {
		guest += " (" + res.GuestType + ")"
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "plan %s: %s cannot be attached on %s: %d problem(s)\n", path, guest, res.Host, len(res.Problems))
		return
	}
	fmt.Fprintf(w, "plan %s: %s can be attached on %s: %d device(s)\n", path, guest, res.Host, len(res.Targets))
}
