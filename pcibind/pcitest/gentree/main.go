// Command gentree writes a synthetic sysfs tree (pcitest.Large or
// pcitest.Sample) for benchmarks and manual runs of xlpt and lspci:
//
//	go run ./pcibind/pcitest/gentree -n 4096 DIR
//	lspci -A linux-sysfs -O sysfs.path=DIR/bus/pci -vvv
//	xlpt --sysfs-root DIR check
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/xlpt/xlpt/pcibind/pcitest"
)

func main() {
	n := flag.Int("n", 0, "functions (Large topology); 0 for the small Sample topology")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: gentree [-n FUNCTIONS] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	topo := pcitest.Sample()
	if *n > 0 {
		topo = pcitest.Large(*n)
	}
	if err := os.MkdirAll(flag.Arg(0), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "gentree: %v\n", err)
		os.Exit(1)
	}
	tr, err := pcitest.Generate(flag.Arg(0), topo)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gentree: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d functions in %s\n", len(tr.Funcs), tr.Root)
}
