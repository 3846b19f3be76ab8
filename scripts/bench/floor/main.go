// Command floor is the least a full scan can cost: it reads the files
// `xlpt check` reads for every PCI function (the device link, config,
// driver, irq, numa_node, resource, reset_method, and a PF's SR-IOV
// files), with the same system calls and the same number of parallel
// readers as pcibind.Scan, and does nothing else: no decoding, no rules,
// no output. scripts/bench/scan.sh compares `xlpt check --json` with it.
//
//	floor SYSFS-ROOT
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor SYSFS-ROOT")
		os.Exit(2)
	}
	dir := os.Args[1] + "/bus/pci/devices"
	f, err := os.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	devs, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	next := make(chan string, len(names))
	for _, n := range names {
		next <- n
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for w := 0; w < 2*runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4097)
			n := 0
			for name := range next {
				n += device(devs, name, buf)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Println(len(names), "functions,", total, "bytes")
}

// device reads one function's files; it returns the bytes read.
func device(devs int, name string, buf []byte) int {
	var lb [256]byte
	unix.Readlinkat(devs, name, lb[:])
	fd, err := unix.Openat(devs, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	cfg := read(fd, "config", buf)
	n := len(cfg)
	pf := hasSRIOV(cfg)
	unix.Readlinkat(fd, "driver", lb[:])
	for _, f := range []string{"irq", "numa_node", "resource", "reset_method"} {
		n += len(read(fd, f, buf))
	}
	if pf {
		n += len(read(fd, "sriov_totalvfs", buf))
		num, _ := strconv.Atoi(string(trim(read(fd, "sriov_numvfs", buf))))
		for i := 0; i < num; i++ {
			unix.Readlinkat(fd, "virtfn"+strconv.Itoa(i), lb[:])
		}
	}
	return n
}

// read is open, one read, close: what pcibind does for sysfs attributes.
func read(dirfd int, name string, buf []byte) []byte {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	n, _ := unix.Read(fd, buf)
	if n < 0 {
		n = 0
	}
	return buf[:n]
}

// hasSRIOV walks the extended capability list for SR-IOV (0x10).
func hasSRIOV(cfg []byte) bool {
	for off, hops := 0x100, 0; off >= 0x100 && off+4 <= len(cfg) && hops < 64; hops++ {
		h := binary.LittleEndian.Uint32(cfg[off:])
		if h&0xffff == 0x10 {
			return true
		}
		off = int(h >> 20 & 0xffc)
	}
	return false
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
