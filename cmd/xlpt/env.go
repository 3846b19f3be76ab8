package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xenlight"
	"github.com/xlpt/xlpt/xenlight/qmp"
	"github.com/xlpt/xlpt/xl"
)

// env is one run's view of the host, decided once from the global flags:
// where sysfs, /proc, the state directory and the host config are
// (hotplug.FindRoots: a recorded host's are under its root, never the
// real host's), and the libxl context (opened on first use, closed when
// the run ends; never for a recorded host).
type env struct {
	hotplug.Roots
	PciIDs    string // "" means the usual places
	Config    hotplug.HostConfig
	configErr error

	// writer, when set, takes every sysfs write: tests put the simulated
	// kernel here through the app's Metadata["sysfs-writer"].
	writer pcibind.AttrWriter

	// out is the running command's output, whose road the service's
	// logger says things on while the command runs (a wait for the host
	// lock).
	out *output

	libxl *xenlight.Lazy // opened on first use; nil for a recorded host
}

// globalEnvFlags are the flags newEnv reads.
var globalEnvFlags = []cli.Flag{
	&cli.StringFlag{Name: "config", EnvVars: []string{"XLPT_CONFIG"},
		Usage: "Host config `FILE` (hotplug_slots = 6-7, state_dir = DIR, lock_timeout = 30); a missing file means the defaults (default: /etc/xlpt/xlpt.conf, or ROOT/etc/xlpt/xlpt.conf of a recorded host)"},
	&cli.StringFlag{Name: "sysfs-root", Value: hotplug.DefaultSysfsRoot, EnvVars: []string{"XLPT_SYSFS_ROOT"},
		Usage: "Where sysfs is mounted: a recorded host's sys `DIR` for tests and bug reports (then /proc, the state directory and the host config come from beside it, and libxl is not used)"},
	&cli.StringFlag{Name: "proc-root", EnvVars: []string{"XLPT_PROC_ROOT"},
		Usage: "Where /proc is (`DIR`; default: /proc, or ROOT/proc of a recorded host)"},
	&cli.StringFlag{Name: "state-dir", EnvVars: []string{"XLPT_STATE_DIR"},
		Usage: "Where original drivers and the host lock are kept (`DIR`; default: state_dir of the host config, else " + pcibind.DefaultStateDir + ", or ROOT" + pcibind.DefaultStateDir + " of a recorded host)"},
	&cli.StringFlag{Name: "config-dir", EnvVars: []string{"XLPT_CONFIG_DIR"},
		Usage: "Where the persisted host setup lives (`DIR`/devices.conf: --persist, restore; default: /etc/xlpt, or ROOT/etc/xlpt of a recorded host)"},
	&cli.StringFlag{Name: "pci-ids", EnvVars: []string{"XLPT_PCI_IDS"},
		Usage: "The pci.ids `FILE` for device names (default: /usr/share/misc/pci.ids or /usr/share/hwdata/pci.ids)"},
}

// newEnv reads the global flags. A malformed host config is kept as an
// error for the commands that need it (pci-spec does not).
func newEnv(c *cli.Context) *env {
	e := &env{PciIDs: c.String("pci-ids")}
	e.Roots, e.Config, e.configErr = hotplug.FindRoots(hotplug.Roots{Sysfs: filepath.Clean(c.String("sysfs-root")),
		Proc: c.String("proc-root"), StateDir: c.String("state-dir"), ConfigDir: c.String("config-dir"), HostConfig: c.String("config")})
	if w, ok := c.App.Metadata["sysfs-writer"].(pcibind.AttrWriter); ok {
		e.writer = w
	}
	return e
}

// envOf is the run's env, set up by the app's Before.
func envOf(c *cli.Context) *env {
	if e, ok := c.App.Metadata["env"].(*env); ok {
		return e
	}
	// a command run without the app's Before (never in xlpt itself)
	return newEnv(c)
}

// hostConfig is the host config, or a usage error naming what is wrong.
func (e *env) hostConfig() (hotplug.HostConfig, error) {
	if e.configErr != nil {
		return e.Config, usagef("host config: %w", e.configErr)
	}
	return e.Config, nil
}

// sysfsNamed is sysfs, without pci.ids names for commands that print none.
func (e *env) sysfsNamed(names bool) *pcibind.Sysfs {
	ids := ""
	if names {
		ids = pcibind.FindPciIDs(e.PciIDs, pcibind.PciIDsPaths)
	}
	opts := []pcibind.Option{pcibind.WithProcRoot(e.Proc), pcibind.WithStateDir(e.StateDir),
		pcibind.WithPciIDs(ids)}
	if e.writer != nil {
		opts = append(opts, pcibind.WithWriter(e.writer))
	}
	return pcibind.New(e.Sysfs, opts...)
}

// service is the run's one Service, built from the env: the roots, the
// host config (the hot-plug slots; --slots where the command has it),
// libxl (timed at -vv) or why there is none, QEMU's QMP, and the
// command's road beside logrus as its logger. names: read pci.ids names
// (for commands that print them).
func (e *env) service(c *cli.Context, names bool) (*hotplug.Service, error) {
	cfg, err := e.hostConfig()
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(e.StateDir) {
		return nil, usagef("--state-dir %s: give an absolute path (a relative one gives every working directory a lock of its own)", e.StateDir)
	}
	slots := cfg.Slots
	if c.IsSet("slots") {
		if slots, err = hotplug.ParseSlotRange(c.String("slots")); err != nil {
			return nil, usageError{err}
		}
	}
	env := hotplug.Env{Sysfs: e.sysfsNamed(names), DeviceModel: qmp.DeviceModel{}, Concurrent: true, // xenlight.Context is thread-safe
		StateDir: e.StateDir, ConfigDir: e.ConfigDir, Slots: slots, LockTimeout: cfg.LockTimeout, XLConf: "/etc/xen/xl.conf"}
	if lazy, err := e.lazyLibxl(); err != nil {
		env.ToolstackErr = err
	} else {
		env.OpenToolstack = lazy.Open // libxl opened when a request needs it
	}
	if e.out != nil {
		env.Log = e.out.road.Logger(logger())
	}
	return hotplug.New(env), nil
}

// lazyLibxl is libxl, opened on first use: the real host's, never a
// recorded host's (libxl acts on the real one).
func (e *env) lazyLibxl() (*xenlight.Lazy, error) {
	if e.Recorded {
		return nil, fmt.Errorf("%w for the recorded host %s (libxl acts on the real one, so it is not used)", xl.ErrNoHypervisor, e.Sysfs)
	}
	if e.libxl == nil {
		e.libxl = xenlight.NewLazy(logger())
	}
	return e.libxl, nil
}

// toolstack is libxl, opened now if it is not yet.
func (e *env) toolstack() (xl.Toolstack, error) {
	lazy, err := e.lazyLibxl()
	if err != nil {
		return nil, err
	}
	return lazy.Open()
}

// logger is logrus's standard logger, which setupLogging set up.
func logger() *logrus.Logger { return logrus.StandardLogger() }

func (e *env) close() {
	e.libxl.Close()
	e.libxl = nil
}

// pciIDsNote is the note for a run that shows device names, "" when a
// pci.ids was found.
func (e *env) pciIDsNote() string { return pciIDsNote(e.PciIDs, pcibind.PciIDsPaths) }

func pciIDsNote(given string, paths []string) string {
	p := pcibind.FindPciIDs(given, paths)
	if p == "" {
		return fmt.Sprintf("no pci.ids in %s: devices are shown by number only (install pciutils or hwdata, or give --pci-ids FILE)", strings.Join(paths, " or "))
	}
	if _, err := os.Stat(p); err != nil {
		return fmt.Sprintf("--pci-ids: %v: devices are shown by number only", err)
	}
	return ""
}
