package hotplug

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ParseHostConfig(path, nil)
	}
	if err != nil {
		cfg, _ := ParseHostConfig(path, nil)
		return cfg, err
	}
	defer f.Close()
	return ParseHostConfig(path, f)
}

// maxHostConfigBytes bounds the host config read: it has three settings.
const maxHostConfigBytes = 1 << 20

// maxLockTimeout bounds lock_timeout: a day is longer than any run.
const maxLockTimeout = 24 * time.Hour

// ParseHostConfig reads a host config from r (nil: the defaults); name
// is the file, for messages.
func ParseHostConfig(path string, r io.Reader) (HostConfig, error) {
	cfg := HostConfig{HotplugSlots: "6-7", Slots: DefaultSlots, LockTimeout: pcibind.DefaultLockTimeout}
	if r == nil {
		return cfg, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxHostConfigBytes)
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
			if !filepath.IsAbs(v) {
				return cfg, fmt.Errorf("%s:%d: state_dir %q: give an absolute path, e.g. /var/lib/xlpt (a relative one gives every working directory a lock of its own)", path, n, v)
			}
			cfg.StateDir = filepath.Clean(v)
		case k == "lock_timeout":
			secs, err := strconv.ParseFloat(v, 64)
			// !(secs > 0) also refuses NaN, which compares false with
			// everything and would pass secs <= 0.
			if err != nil || !(secs > 0) || secs > maxLockTimeout.Seconds() {
				return cfg, fmt.Errorf("%s:%d: lock_timeout %q: give seconds, more than 0 and at most %d, e.g. 30", path, n, v, int(maxLockTimeout.Seconds()))
			}
			cfg.LockTimeout = time.Duration(secs * float64(time.Second))
		default:
			return cfg, fmt.Errorf("%s:%d: unknown setting %q (known: hotplug_slots, state_dir, lock_timeout)", path, n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
