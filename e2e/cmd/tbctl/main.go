// Command tbctl talks to a running testbed's dom0 over its control socket
// (see scripts/testbed/run and scripts/testbed/exec).
//
//	tbctl [-sock PATH] wait [-timeout 5m]     wait until dom0's agent answers
//	tbctl [-sock PATH] exec [-timeout 10m] CMD...
//	                                          run CMD with sh in dom0; print its
//	                                          stdout and stderr; exit with its code
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
			c, err := testbed.Dial(ctx, *sock)
			if err == nil {
				c.Close()
				return 0
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
			fmt.Fprintf(os.Stderr, "tbctl: %v\n", err)
			return 1
		}
		return code
	}
	usage()
	return 2
}
