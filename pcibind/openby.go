package pcibind

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// OpenBy finds what dom0 is doing with the given functions right now,
// beyond mounts, swap and the default route (InUse): device nodes of
// their children (a tty, a virtio port, a disk, /dev/nvme0) held open by
// a process, named as fuser would (pid and command); and their NICs that
// are up with an address. Only the named functions are looked at, and
// the process scan runs only if they have device nodes.
func (s *Sysfs) OpenBy(targets []xl.PciBdf) ([]Use, error) {
	var uses []Use
	nodes := map[string]xl.PciBdf{} // "/dev/NAME" -> function
	for _, b := range targets {
		for _, n := range s.devNodes("bus/pci/devices/"+b.String(), 0) {
			nodes["/dev/"+n] = b
		}
		for _, ifc := range s.netChildren(b) {
			if why, ok := s.nicUp(ifc); ok {
				uses = append(uses, Use{BDF: b, Reason: why})
			}
		}
	}
	if len(nodes) > 0 {
		held, err := s.holders(nodes)
		if err != nil {
			return nil, err
		}
		uses = append(uses, held...)
	}
	sort.SliceStable(uses, func(i, j int) bool { return uses[i].BDF.Less(uses[j].BDF) })
	return uses, nil
}

// devNodes lists the DEVNAMEs (from uevent) beneath a sysfs device
// directory, not descending into other PCI functions (a bridge's
// children are theirs).
func (s *Sysfs) devNodes(rel string, depth int) []string {
	if depth > 6 {
		return nil
	}
	var out []string
	if v, err := s.ReadFile(rel + "/uevent"); err == nil {
		for _, l := range strings.Split(string(v), "\n") {
			if n, ok := strings.CutPrefix(l, "DEVNAME="); ok && n != "" {
				out = append(out, n)
			}
		}
	}
	ents, err := os.ReadDir(s.Path(rel))
	if err != nil {
		return out
	}
	for _, e := range ents {
		if !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue // links (driver, subsystem, firmware_node) lead elsewhere
		}
		if _, err := ParseSysfsBdf(e.Name()); err == nil {
			continue
		}
		out = append(out, s.devNodes(rel+"/"+e.Name(), depth+1)...)
	}
	return out
}

func (s *Sysfs) netChildren(b xl.PciBdf) []string {
	ents, err := os.ReadDir(s.Path("bus/pci/devices/" + b.String() + "/net"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// nicUp: the interface is up and has an address (a route through it, as
// the kernel adds for each IPv4 address, or a global IPv6 address).
func (s *Sysfs) nicUp(ifc string) (string, bool) {
	st, err := s.ReadFile("class/net/" + ifc + "/operstate")
	if err != nil || trim(st) != "up" {
		return "", false
	}
	if data, err := os.ReadFile(filepath.Join(s.procRoot, "net/route")); err == nil {
		for i, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); i > 0 && len(f) > 0 && f[0] == ifc {
				return fmt.Sprintf("is up with an IPv4 address (%s)", ifc), true
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(s.procRoot, "net/if_inet6")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			// address index prefixlen scope flags name; scope 00 is global
			if f := strings.Fields(l); len(f) == 6 && f[5] == ifc && f[3] == "00" {
				return fmt.Sprintf("is up with an IPv6 address (%s)", ifc), true
			}
		}
	}
	return "", false
}

// holders scans every process's open files for the nodes, as fuser does.
func (s *Sysfs) holders(nodes map[string]xl.PciBdf) ([]Use, error) {
	procs, err := os.ReadDir(s.procRoot)
	if err != nil {
		return nil, fmt.Errorf("cannot tell which processes hold device nodes: %w", err)
	}
	byNode := map[string][]string{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(s.procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to see
		}
		for _, fd := range fds {
			tgt, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if _, ok := nodes[tgt]; ok {
				who := fmt.Sprintf("%d (%s)", pid, s.comm(p.Name()))
				if l := byNode[tgt]; len(l) == 0 || l[len(l)-1] != who {
					byNode[tgt] = append(l, who)
				}
			}
		}
	}
	var uses []Use
	for node, who := range byNode {
		uses = append(uses, Use{BDF: nodes[node], Reason: fmt.Sprintf("has %s open by process %s", node, strings.Join(who, ", "))})
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].Reason < uses[j].Reason })
	return uses, nil
}

func (s *Sysfs) comm(pid string) string {
	if v, err := os.ReadFile(filepath.Join(s.procRoot, pid, "comm")); err == nil {
		return strings.TrimSpace(string(v))
	}
	return "?"
}
