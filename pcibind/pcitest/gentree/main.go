// Command gentree writes a synthetic sysfs tree (pcitest.Large,
// pcitest.Wide or pcitest.Sample) for benchmarks and manual runs of xlpt and lspci:
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
	n := flag.Int("n", 0, "functions (Large or Wide topology); 0 for the small Sample topology")
	shape := flag.String("shape", "large", "large: mostly SR-IOV VFs; wide: multi-function endpoints with many capabilities")
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
	switch {
	case *n > 0 && *shape == "large":
		topo = pcitest.Large(*n)
	case *n > 0 && *shape == "wide":
		topo = pcitest.Wide(*n)
	case *n > 0:
		fmt.Fprintf(os.Stderr, "gentree: -shape %q: large or wide\n", *shape)
		os.Exit(2)
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
