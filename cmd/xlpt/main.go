// Command xlpt manages PCI passthrough on a Xen host: it makes devices
// assignable, attaches them to guests and detaches them again, and refuses
// what Xen and libxl would get wrong. See `xlpt help`.
package main

import (
	"os"

	"github.com/xlpt/xlpt/internal/timing"
)

func main() {
	app := newApp()
	err := runApp(app, os.Args)
	timing.Log(logger(), "run", timing.Start())
	if err != nil {
		printError(errWriter(app), err, jsonLogFormat(app, os.Args))
		os.Exit(exitCode(err))
	}
}
