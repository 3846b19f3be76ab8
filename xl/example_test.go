package xl_test

import (
	"errors"
	"fmt"

	"github.com/xlpt/xlpt/xl"
)

// Parse a PCI_SPEC_STRING as xl pci-attach and xl.cfg's pci = [...] read it.
func ExampleParseSpec() {
	d, err := xl.ParseSpec("0000:03:00.1@7,permissive=1,rdm_policy=relaxed")
	if err != nil {
		panic(err)
	}
	fmt.Println(d.PciBdf, "slot", d.VSlot(), "permissive", d.Permissive, "rdm_policy", d.RdmPolicy)
	fmt.Println(d.Spec())
	// Output:
	// 0000:03:00.1 slot 7 permissive true rdm_policy relaxed
	// 0000:03:00.1@07,permissive=1,rdm_policy=relaxed
}

// A spec that libxlutil 4.17 would silently misread is refused, naming
// what xl would have done.
func ExampleParseSpec_misread() {
	_, err := xl.ParseSpec("03:00.0,permissive=true")
	fmt.Println(errors.Is(err, xl.ErrMalformedSpec))
	fmt.Println(err)
	// Output:
	// true
	// malformed PCI_SPEC_STRING "03:00.0,permissive=true": permissive="true" is not 0 or 1 (xl 4.17 and 4.20 would silently read it as permissive=0)
}
