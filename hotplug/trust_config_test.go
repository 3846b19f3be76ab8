package hotplug

import (
	"os"
	"strings"
	"testing"
)

// Issue 25: the host config is read as untrusted input: lock_timeout =
// nan (which compares false with everything) and a relative state_dir
// (a lock per working directory) are refused, naming the fix.
func TestHostConfigRefusesNaNAndRelativeStateDir(t *testing.T) {
	p := t.TempDir() + "/xlpt.conf"
	for body, want := range map[string]string{
		"lock_timeout = nan\n":       "give seconds",
		"lock_timeout = NaN\n":       "give seconds",
		"lock_timeout = inf\n":       "give seconds",
		"lock_timeout = 1e300\n":     "give seconds",
		"lock_timeout = -1\n":        "give seconds",
		"state_dir = var/lib/xlpt\n": "absolute path",
		"state_dir = \n":             "absolute path",
	} {
		os.WriteFile(p, []byte(body), 0o644)
		if cfg, err := LoadHostConfig(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %+v, %v; want an error saying %q", body, cfg, err, want)
		}
	}
	os.WriteFile(p, []byte("state_dir = /srv/xlpt/\n"), 0o644)
	if cfg, err := LoadHostConfig(p); err != nil || cfg.StateDir != "/srv/xlpt" {
		t.Errorf("absolute state_dir: %+v, %v", cfg, err)
	}
}
