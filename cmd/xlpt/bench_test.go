package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/xlpt/xlpt/pcibind/pcitest"
)

// preflightSizes are the host sizes scripts/bench/preflight.sh compares:
// a command about one device must cost the same on all of them.
var preflightSizes = []int{20, 256, 1024, 4096}

// BenchmarkCheckBDF runs `xlpt check --json --no-libxl BDF` in-process
// for one VF (its PF, parents) and one conventional device (its
// same-domain group) of pcitest.Large hosts of each size.
func BenchmarkCheckBDF(b *testing.B) {
	for _, n := range preflightSizes {
		dir := pcitest.TempDir(b)
		tr, err := pcitest.Generate(dir, pcitest.Large(n))
		if err != nil {
			b.Fatal(err)
		}
		proc := b.TempDir()
		os.MkdirAll(filepath.Join(proc, "net"), 0o755)
		os.WriteFile(filepath.Join(proc, "mounts"), nil, 0o644)
		os.WriteFile(filepath.Join(proc, "net/route"), []byte("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"), 0o644)
		var vf, conv string
		for _, f := range tr.Funcs {
			switch {
			case f.IsVF:
				vf = f.BDF.String() // the last VF
			case f.Kind == pcitest.PCIDevice && conv == "":
				conv = f.BDF.String()
			}
		}
		for _, dev := range []struct{ name, bdf string }{{"vf", vf}, {"conventional", conv}} {
			b.Run(fmt.Sprintf("%s/funcs=%d", dev.name, n), func(b *testing.B) {
				args := []string{"xlpt", "--sysfs-root", dir, "--config", "/nonexistent", "--proc-root", proc, "check", "--json", "--no-libxl", dev.bdf}
				for i := 0; i < b.N; i++ {
					app := newApp()
					app.Writer, app.ErrWriter = io.Discard, io.Discard
					if err := app.Run(args); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
