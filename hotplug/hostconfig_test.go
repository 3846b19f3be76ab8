package hotplug

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestHostConfig(t *testing.T) {
	p := t.TempDir() + "/xlpt.conf"
	os.WriteFile(p, []byte("# slots for hot-plug\nhotplug_slots = 10-12\n"), 0o644)
	cfg, err := LoadHostConfig(p)
	if err != nil || cfg.HotplugSlots != "10-12" {
		t.Errorf("%+v, %v", cfg, err)
	}
	os.WriteFile(p, []byte("hotplug_slot = 6\n"), 0o644)
	if _, err := LoadHostConfig(p); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Errorf("typo accepted: %v", err)
	}
	if cfg, err := LoadHostConfig(p + ".missing"); err != nil || cfg.HotplugSlots != "6-7" || cfg.LockTimeout != 30*time.Second {
		t.Errorf("missing file: %+v, %v", cfg, err)
	}
	os.WriteFile(p, []byte("lock_timeout = 2.5\n"), 0o644)
	if cfg, err := LoadHostConfig(p); err != nil || cfg.LockTimeout != 2500*time.Millisecond {
		t.Errorf("lock_timeout: %+v, %v", cfg, err)
	}
	os.WriteFile(p, []byte("lock_timeout = soon\n"), 0o644)
	if _, err := LoadHostConfig(p); err == nil || !strings.Contains(err.Error(), "give seconds") {
		t.Errorf("bad lock_timeout accepted: %v", err)
	}
}
