package hotplug

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
)

func TestFindRoots(t *testing.T) {
	for _, c := range []struct {
		given Roots
		want  Roots
	}{
		{Roots{HostConfig: "/nonexistent"}, Roots{Sysfs: "/sys", Proc: "/proc", StateDir: pcibind.DefaultStateDir, ConfigDir: "/etc/xlpt", HostConfig: "/nonexistent"}},
		{Roots{Sysfs: "/cap/sys", HostConfig: "/nonexistent"}, Roots{Sysfs: "/cap/sys", Proc: "/cap/proc", StateDir: "/cap/var/lib/xlpt", ConfigDir: "/cap/etc/xlpt", HostConfig: "/nonexistent", Recorded: true}},
		{Roots{Sysfs: "/tree", HostConfig: "/nonexistent"}, Roots{Sysfs: "/tree", Proc: "/tree/proc", StateDir: "/tree/var/lib/xlpt", ConfigDir: "/tree/etc/xlpt", HostConfig: "/nonexistent", Recorded: true}},
		{Roots{Sysfs: "/cap/sys", Proc: "/p", StateDir: "/s", ConfigDir: "/c", HostConfig: "/nonexistent"}, Roots{Sysfs: "/cap/sys", Proc: "/p", StateDir: "/s", ConfigDir: "/c", HostConfig: "/nonexistent", Recorded: true}},
		{Roots{Sysfs: "/cap/sys"}, Roots{Sysfs: "/cap/sys", Proc: "/cap/proc", StateDir: "/cap/var/lib/xlpt", ConfigDir: "/cap/etc/xlpt", HostConfig: "/cap/etc/xlpt/xlpt.conf", Recorded: true}},
	} {
		got, _, err := FindRoots(c.given)
		if err != nil || got != c.want {
			t.Errorf("%+v:\n got  %+v (%v)\n want %+v", c.given, got, err, c.want)
		}
	}
}

// A recorded host's own config names a state directory of that host; a
// config given names one of the host it is given for.
func TestFindRootsStateDirOfTheConfig(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "etc/xlpt/xlpt.conf")
	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.WriteFile(conf, []byte("state_dir = /srv/xlpt\n"), 0o644)
	r, cfg, err := FindRoots(Roots{Sysfs: filepath.Join(root, "sys")})
	if err != nil || r.StateDir != filepath.Join(root, "srv/xlpt") || cfg.StateDir != "/srv/xlpt" {
		t.Errorf("its own config: %+v %+v %v", r, cfg, err)
	}
	r, _, err = FindRoots(Roots{Sysfs: filepath.Join(root, "sys"), HostConfig: conf})
	if err != nil || r.StateDir != "/srv/xlpt" {
		t.Errorf("a config given: %+v %v", r, err)
	}
	os.WriteFile(conf, []byte("state_dir = relative\n"), 0o644)
	if r, _, err = FindRoots(Roots{Sysfs: filepath.Join(root, "sys")}); err == nil || r.StateDir != filepath.Join(root, pcibind.DefaultStateDir) {
		t.Errorf("a bad config: %+v %v; want its error and the default", r, err)
	}
}
