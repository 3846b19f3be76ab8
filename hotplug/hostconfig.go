package hotplug

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xlpt/xlpt/pcibind"
)

// HostConfig is the host config, /etc/xlpt/xlpt.conf: "key = value"
// lines, # comments. It holds the host's policy so every operator and
// script gets the same.
type HostConfig struct {
	HotplugSlots string        // e.g. "6-7"
	Slots        SlotRange     // HotplugSlots, read
	StateDir     string        // "": the program's default
	LockTimeout  time.Duration // how long to wait for another run's host lock
}

// LoadHostConfig reads the host config at path; a missing file is the
// defaults. Errors name the file and line.
func LoadHostConfig(path string) (HostConfig, error) {
	cfg := HostConfig{HotplugSlots: "6-7", Slots: DefaultSlots, LockTimeout: pcibind.DefaultLockTimeout}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case !ok:
			return cfg, fmt.Errorf("%s:%d: %q is not key = value", path, n, line)
		case k == "hotplug_slots":
			r, err := ParseSlotRange(v)
			if err != nil {
				return cfg, fmt.Errorf("%s:%d: hotplug_slots: %w", path, n, err)
			}
			cfg.HotplugSlots, cfg.Slots = v, r
		case k == "state_dir":
			cfg.StateDir = v
		case k == "lock_timeout":
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil || secs <= 0 {
				return cfg, fmt.Errorf("%s:%d: lock_timeout %q: give seconds, e.g. 30", path, n, v)
			}
			cfg.LockTimeout = time.Duration(secs * float64(time.Second))
		default:
			return cfg, fmt.Errorf("%s:%d: unknown setting %q (known: hotplug_slots, state_dir, lock_timeout)", path, n, k)
		}
	}
	return cfg, sc.Err()
}
