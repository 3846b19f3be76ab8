package hotplug

import (
	"path/filepath"

	"github.com/xlpt/xlpt/pcibind"
)

// Roots are where one host's files are: its sysfs, /proc, the state
// directory, the persisted host setup and the host config.
//
// A recorded host (a sysfs root other than /sys: a capture for tests and
// bug reports) is laid out as a root: ROOT is its sys directory's parent
// when that is named "sys", else the directory itself. What is not given
// is taken from that root (ROOT/proc, ROOT/var/lib/xlpt,
// ROOT/etc/xlpt/xlpt.conf), never from the real host; and libxl, which
// acts on the real host, is not for it.
type Roots struct {
	Sysfs      string // DefaultSysfsRoot, or a recorded host's
	Proc       string
	StateDir   string // the journal, the host lock, pci-move's plans
	ConfigDir  string // the persisted host setup (devices.conf)
	HostConfig string // the host config file (xlpt.conf)
	Recorded   bool   // Sysfs is not DefaultSysfsRoot
}

// The real host's sysfs and host config.
const (
	DefaultSysfsRoot  = "/sys"
	DefaultHostConfig = "/etc/xlpt/xlpt.conf"
)

// FindRoots fills in the roots that given leaves empty and reads the
// host config. The state directory, when not given, is the host
// config's state_dir (under ROOT when it is a recorded host's own
// config), else pcibind.DefaultStateDir (under ROOT). A host config that
// cannot be read is returned as the error beside the roots and the
// defaults: what needs no host config goes on.
func FindRoots(given Roots) (Roots, HostConfig, error) {
	r := given
	if r.Sysfs == "" {
		r.Sysfs = DefaultSysfsRoot
	}
	r.Recorded = r.Sysfs != DefaultSysfsRoot
	root := "/"
	if r.Recorded {
		root = r.Sysfs
		if filepath.Base(root) == "sys" {
			root = filepath.Dir(root)
		}
		if abs, err := filepath.Abs(root); err == nil {
			root = abs // the state directory beside it must be absolute
		}
	}
	if r.HostConfig == "" {
		r.HostConfig = filepath.Join(root, DefaultHostConfig)
	}
	cfg, err := LoadHostConfig(r.HostConfig)
	if r.ConfigDir == "" {
		r.ConfigDir = filepath.Join(root, "etc/xlpt")
	}
	if r.Proc == "" {
		r.Proc = filepath.Join(root, "proc")
	}
	switch {
	case r.StateDir != "":
	case cfg.StateDir != "" && given.HostConfig == "":
		// the recorded host's own config names a directory of that host
		r.StateDir = filepath.Join(root, cfg.StateDir)
	case cfg.StateDir != "":
		r.StateDir = cfg.StateDir
	default:
		r.StateDir = filepath.Join(root, pcibind.DefaultStateDir)
	}
	return r, cfg, err
}
