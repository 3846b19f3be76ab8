//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// tb is the one testbed of this package: Xen is booted once, in TestMain,
// and every scenario runs on it.
var tb *testbed.Testbed

// timings collects what the summary at the end prints.
var timings struct {
	sync.Mutex
	lines []string
}

func record(format string, args ...any) {
	timings.Lock()
	defer timings.Unlock()
	timings.lines = append(timings.lines, fmt.Sprintf(format, args...))
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(mainE2E(m))
}

func mainE2E(m *testing.M) int {
	start := time.Now()
	repo, err := testbed.FindRepo(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The build is cached: it only repacks what changed (xlpt, usually).
	if err := testbed.Build(repo, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	built := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Fprintln(os.Stderr, "e2e: booting Xen + dom0 in QEMU (TCG); this takes a minute or two")
	tb, err = testbed.Boot(ctx, testbed.Options{Repo: repo, Name: "e2e", Output: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, testbed.BootFailed("e2e", err))
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: testbed up: Xen boot to dom0 agent %.1fs (serial log %s)\n", tb.BootTime.Seconds(), tb.Log)
	record("build (cached) %6.1fs", built.Seconds())
	record("Xen boot       %6.1fs  (QEMU start to dom0 agent ready)", tb.BootTime.Seconds())

	// No HVM guest here: the HVM scenarios (slots 6-7, the slot QEMU
	// refuses, an SR-IOV VF) run in e2e/policy on its hvm1, since a boot
	// costs 90-140 s under TCG.
	code := m.Run()

	if err := tb.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the testbed:", err)
	}
	record("whole e2e      %6.1fs  (build + boot + scenarios + shutdown)", time.Since(start).Seconds())
	timings.Lock()
	fmt.Printf("\n=== e2e timings (serial log %s)\n%s\n", tb.Log, strings.Join(timings.lines, "\n"))
	timings.Unlock()
	return code
}

// scenario logs the scenario's wall time when it ends, and records it for
// the summary.
func scenario(t *testing.T) {
	t.Helper()
	start := time.Now()
	t.Cleanup(func() {
		d := time.Since(start)
		status := "ok"
		if t.Failed() {
			status = "FAILED"
		} else if t.Skipped() {
			status = "skipped"
		}
		t.Logf("scenario %s: %.1fs (%s)", t.Name(), d.Seconds(), status)
		record("%-30s %6.1fs  %s", t.Name(), d.Seconds(), status)
	})
}

// sortedLines returns the non-empty lines of s, trimmed and sorted.
func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}
