package hotplug

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

// ErrHostMemory: the target has less memory free than the guest holds,
// and xl will not take it from dom0.
var ErrHostMemory = errors.New("this host has too little free memory for the guest")

// xenPageKiB is an x86 page, the unit of Xen's free page count.
const xenPageKiB = 4

// memoryNeeds compares the memory the guest held on the source (the
// plan's) with what this host's Xen has free for a new domain (free
// pages less those claimed): xl migrate-receive builds the guest with at
// least that much, and fails after the stream has started when it
// cannot. When xl balloons dom0 down for a new guest (autoballoon), the
// shortfall is a note, not a refusal. A plan without the guest's memory
// (an older xlpt's) is not checked.
func (m *Migration) memoryNeeds(p *Plan, phys xl.PhysInfo) (*DeviceProblem, string) {
	if p.MemoryKiB == 0 {
		return nil, ""
	}
	free := (phys.FreePages - min(phys.OutstandingPages, phys.FreePages)) * xenPageKiB
	if free >= p.MemoryKiB {
		return nil, ""
	}
	short := p.MemoryKiB - free
	balloon, why := autoballoon(m.s.xlConf, phys.XenCommandline)
	if balloon {
		return nil, fmt.Sprintf("%s holds %d MiB and this host's Xen has %d MiB free: xl migrate-receive takes the other %d MiB from dom0 (%s)",
			p.Domain, mib(p.MemoryKiB), mib(free), mibUp(short), why)
	}
	return &DeviceProblem{Kind: ProblemMemory, Err: fmt.Errorf("%w: %s holds %d MiB and this host's Xen has %d MiB free, and xl does not balloon dom0 here (%s): "+
		"xl migrate-receive would fail to build it; free %d MiB more (`xl destroy` or `xl mem-set` a guest here) and run this again",
		ErrHostMemory, p.Domain, mib(p.MemoryKiB), mib(free), why, mibUp(short))}, ""
}

func mib(kib uint64) uint64   { return kib / 1024 }
func mibUp(kib uint64) uint64 { return (kib + 1023) / 1024 }

// dom0MemOption is xl's own test of Xen's command line for autoballoon
// "auto" (xl.c, auto_autoballoon).
var dom0MemOption = regexp.MustCompile(`(^| )dom0_mem=((|min:|max:)[0-9]+[bBkKmMgG]?,?)+($| )`)

// autoballoon is xl's decision to balloon dom0 down for a new guest,
// and why: xl.conf's autoballoon= ("on" or "1", "off" or "0", "auto");
// "auto" (or none) is on unless Xen's command line sets dom0_mem=. An
// xl.conf that cannot be read counts as none, as for xl.
func autoballoon(conf, cmdline string) (bool, string) {
	v := xlConfString(conf, "autoballoon")
	switch v {
	case "on", "1":
		return true, fmt.Sprintf("autoballoon=%q in %s", v, conf)
	case "off", "0":
		return false, fmt.Sprintf("autoballoon=%q in %s", v, conf)
	}
	if dom0MemOption.MatchString(cmdline) {
		return false, "autoballoon \"auto\", and Xen's command line sets dom0_mem="
	}
	return true, "autoballoon \"auto\", and Xen's command line sets no dom0_mem="
}

// xlConfString is the string value of key in xl's config file at path,
// read as libxlutil reads it (xlcfg: last assignment wins), "" when the
// file, the key or a string value is not there, or the file does not
// parse (xl then goes on with its defaults too).
func xlConfString(path, key string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f, err := xlcfg.Parse(string(b))
	if err != nil {
		return ""
	}
	if v, ok := f.Get(key); ok && !v.IsList {
		return v.Str
	}
	return ""
}
