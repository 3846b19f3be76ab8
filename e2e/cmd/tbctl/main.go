// Command tbctl talks to a running testbed's dom0 over its control socket
// (see scripts/testbed/run and scripts/testbed/exec).
//
//	tbctl [-sock PATH] wait [-timeout 5m]     wait until dom0's agent answers
//	tbctl [-sock PATH] exec [-timeout 10m] CMD...
//	                                          run CMD with sh in dom0; print its
//	                                          stdout and stderr; exit with its code
//
// Both stop within a second or two when the testbed's QEMU has exited
// (scripts/testbed/run records it beside the socket), print its exit status
// and the serial log's tail, and exit 3.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

func main() {
	os.Exit(run())
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tbctl [-sock PATH] wait [-timeout D] | exec [-timeout D] CMD...")
}

func run() int {
	def := os.Getenv("TESTBED_CTL")
	if def == "" {
		exe, _ := os.Executable()
		def = filepath.Join(filepath.Dir(exe), "run", "ctl.sock")
	}
	sock := flag.String("sock", def, "control socket of the testbed (env TESTBED_CTL)")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() < 1 {
		usage()
		return 2
	}
	sub := flag.NewFlagSet(flag.Arg(0), flag.ContinueOnError)
	timeout := sub.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := sub.Parse(flag.Args()[1:]); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch flag.Arg(0) {
	case "wait":
		for {
			// A dial's own wait is short, so that QEMU's death (its run
			// script's SOCK.exit) is noticed within a second or two.
			dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := testbed.Dial(dctx, *sock)
			dcancel()
			if err == nil {
				c.Close()
				return 0
			}
			if gone := testbed.Exited(*sock); gone != nil {
				fmt.Fprintf(os.Stderr, "tbctl: %v\n", gone)
				return 3
			}
			select {
			case <-ctx.Done():
				fmt.Fprintf(os.Stderr, "tbctl: %v\n", err)
				return 1
			case <-time.After(500 * time.Millisecond):
			}
		}
	case "exec":
		if sub.NArg() == 0 {
			usage()
			return 2
		}
		if gone := testbed.Exited(*sock); gone != nil {
			fmt.Fprintf(os.Stderr, "tbctl: %v\n", gone)
			return 3
		}
		c, err := testbed.Dial(ctx, *sock)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tbctl: %v\n", err)
			return 1
		}
		defer c.Close()
		out, serr, code, err := c.Run(ctx, strings.Join(sub.Args(), " "))
		os.Stdout.WriteString(out)
		os.Stderr.WriteString(serr)
		if err != nil {
			// The channel closes at once when QEMU dies; its run script
			// records the exit a moment later.
			for i := 0; i < 20; i++ {
				if gone := testbed.Exited(*sock); gone != nil {
					fmt.Fprintf(os.Stderr, "tbctl: %v\n", gone)
					return 3
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Fprintf(os.Stderr, "tbctl: %v\n", err)
			return 1
		}
		return code
	}
	usage()
	return 2
}
