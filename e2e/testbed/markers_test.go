package testbed

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The markers the packages print are the ones scripts/e2e-run greps for:
// a renamed marker would turn every rerun into a failure.
func TestMarkersAreWhatE2ERunGreps(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "e2e-run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{GuestDied + " e2e/migrate: hvm1 gone", BootFailed("e2e/policy", errors.New("stalled"))} {
		found := false
		for _, m := range regexp.MustCompile(`grep -oE '(E2E-[A-Z-]+:[^']*)'`).FindAllSubmatch(script, -1) {
			if regexp.MustCompile(string(m[1])).MatchString(line) {
				found = true
			}
		}
		if !found {
			t.Errorf("scripts/e2e-run greps for no pattern matching %q", line)
		}
	}
}
