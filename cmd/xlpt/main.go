// Command xlpt manages PCI passthrough on a Xen host: it makes devices
// assignable, attaches them to guests and detaches them again, and refuses
// what Xen and libxl would get wrong. See `xlpt help`.
package main

import (
	"fmt"
	"os"

	"github.com/xlpt/xlpt/internal/timing"
)

func main() {
	app := newApp()
	err := app.Run(getoptArgs(app, os.Args))
	timing.Log(logger(), "run", timing.Start())
	if err != nil {
		if _, silent := err.(exitStatus); !silent {
			fmt.Fprintf(os.Stderr, "xlpt: %v\n", err)
		}
		os.Exit(exitCode(err))
	}
}
