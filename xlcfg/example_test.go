package xlcfg_test

import (
	"fmt"

	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

// Read pci = [...] from a guest's xl.cfg as xl create reads it, then parse
// each entry.
func Example() {
	f, err := xlcfg.Parse(`name = "web01"
type = "hvm"
pci = [ '0000:03:00.0@6', "0000:04:00.*,rdm_policy=relaxed" ]
`)
	if err != nil {
		panic(err)
	}
	name, _ := f.String("name")
	specs, _, err := f.StringList("pci")
	if err != nil {
		panic(err)
	}
	for _, s := range specs {
		d, err := xl.ParseSpec(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s slot %d all functions %v\n", name, d.PciBdf, d.VSlot(), d.AllFuncs())
	}
	// Output:
	// web01: 0000:03:00.0 slot 6 all functions false
	// web01: 0000:04:00.0 slot 0 all functions true
}
