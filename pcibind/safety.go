package pcibind

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// Use is one reason dom0 needs a device right now.
type Use struct {
	BDF    xl.PciBdf `json:"bdf"`
	Reason string    `json:"reason"`
}

// ErrNoProc says there is no /proc to read dom0's use of devices from:
// a recorded tree captured without it (a live host always has one).
var ErrNoProc = errors.New("no /proc was recorded with this tree, so what dom0 uses is unknown")

// InUse finds the devices dom0 is using now: controllers of mounted
// filesystems and active swap (via class/block and /proc/mounts,
// /proc/swaps) and NICs of a default route (via /proc/net/route,
// /proc/net/ipv6_route and class/net, following bonds, VLANs and
// bridges down to the PCI function). A /proc file that cannot be read is
// an error: then nobody can say the device is free.
func (s *Sysfs) InUse() ([]Use, error) {
	if _, err := os.Stat(s.procRoot); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s does not exist)", ErrNoProc, s.procRoot)
	}
	var uses []Use
	add := func(b xl.PciBdf, why string) { uses = append(uses, Use{BDF: b, Reason: why}) }

	mounts, err := os.ReadFile(filepath.Join(s.procRoot, "mounts"))
	if err != nil {
		return nil, fmt.Errorf("cannot tell which devices hold mounted filesystems: %w", err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(mounts))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "/dev/") {
			continue
		}
		src, mnt := unescapeMount(f[0]), unescapeMount(f[1])
		for _, b := range s.blockDevicePCI(src) {
			key := b.String() + " " + mnt
			if !seen[key] {
				seen[key] = true
				add(b, fmt.Sprintf("controls %s, mounted on %s", src, mnt))
			}
		}
	}
	if swaps, err := os.ReadFile(filepath.Join(s.procRoot, "swaps")); err == nil {
		for i, l := range strings.Split(string(swaps), "\n") {
			f := strings.Fields(l)
			if i == 0 || len(f) == 0 || !strings.HasPrefix(f[0], "/dev/") {
				continue
			}
			for _, b := range s.blockDevicePCI(f[0]) {
				add(b, fmt.Sprintf("controls %s, active swap", f[0]))
			}
		}
	}

	ifaces, err := s.defaultRouteIfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifaces {
		for _, b := range s.netDevicePCI(ifc, 0) {
			add(b, fmt.Sprintf("is the NIC of the default route (%s)", ifc))
		}
	}
	sort.SliceStable(uses, func(i, j int) bool { return uses[i].BDF.Less(uses[j].BDF) })
	return uses, nil
}

// unescapeMount undoes /proc/mounts' octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pciOf returns the PCI function a sysfs object lives under: the last
// BDF in its real path (class links point into devices/...).
func (s *Sysfs) pciOf(rel string) (xl.PciBdf, bool) {
	real, err := s.resolve(rel)
	if err != nil {
		return xl.PciBdf{}, false
	}
	parts := strings.Split(real, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if b, err := ParseSysfsBdf(parts[i]); err == nil {
			return b, true
		}
	}
	return xl.PciBdf{}, false
}

// resolve follows symlinks lexically beneath the root (a few hops; sysfs
// class entries are one link into devices/).
func (s *Sysfs) resolve(rel string) (string, error) {
	p := strings.TrimPrefix(path.Clean("/"+rel), "/")
	for hops := 0; hops < 8; hops++ {
		tgt, err := s.Readlink(p)
		if err != nil {
			if _, serr := os.Stat(s.Path(p)); serr == nil {
				return p, nil // a directory, not a link
			}
			return "", err
		}
		if path.IsAbs(tgt) {
			tgt = strings.TrimPrefix(tgt, "/sys")
			p = strings.TrimPrefix(path.Clean(tgt), "/")
		} else {
			p = strings.TrimPrefix(path.Clean("/"+path.Join(path.Dir(p), tgt)), "/")
		}
	}
	return "", fmt.Errorf("%s: too many links", rel)
}

// blockDevicePCI maps /dev/NAME (or /dev/mapper/NAME) to the PCI
// functions under it, following dm/md slaves.
func (s *Sysfs) blockDevicePCI(dev string) []xl.PciBdf {
	name := strings.TrimPrefix(dev, "/dev/")
	if m, ok := strings.CutPrefix(name, "mapper/"); ok {
		name = s.dmByName(m)
		if name == "" {
			return nil
		}
	}
	return s.blockPCI(path.Base(name), 0)
}

func (s *Sysfs) blockPCI(name string, depth int) []xl.PciBdf {
	if depth > 8 {
		return nil
	}
	rel := "class/block/" + name
	if _, err := os.Lstat(s.Path(rel)); err != nil {
		rel = "block/" + name
	}
	if b, ok := s.pciOf(rel); ok {
		return []xl.PciBdf{b}
	}
	// A virtual device (dm, md): its slaves hold the data. Partitions
	// keep slaves in the parent disk, which pciOf already covers.
	ents, err := os.ReadDir(s.Path(rel + "/slaves"))
	if err != nil {
		return nil
	}
	var out []xl.PciBdf
	for _, e := range ents {
		out = append(out, s.blockPCI(e.Name(), depth+1)...)
	}
	return out
}

// dmByName finds dm-N whose dm/name is name.
func (s *Sysfs) dmByName(name string) string {
	ents, err := os.ReadDir(s.Path("block"))
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "dm-") {
			continue
		}
		if v, err := s.ReadFile("block/" + e.Name() + "/dm/name"); err == nil && trim(v) == name {
			return e.Name()
		}
	}
	return ""
}

// defaultRouteIfaces reads the interfaces of IPv4 and IPv6 default routes.
func (s *Sysfs) defaultRouteIfaces() ([]string, error) {
	set := map[string]bool{}
	v4, err := os.ReadFile(filepath.Join(s.procRoot, "net/route"))
	if err != nil {
		return nil, fmt.Errorf("cannot tell which NIC carries the default route: %w", err)
	}
	for i, l := range strings.Split(string(v4), "\n") {
		f := strings.Fields(l)
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if i == 0 || len(f) < 8 {
			continue
		}
		if f[1] == "00000000" && f[7] == "00000000" {
			set[f[0]] = true
		}
	}
	if v6, err := os.ReadFile(filepath.Join(s.procRoot, "net/ipv6_route")); err == nil {
		for _, l := range strings.Split(string(v6), "\n") {
			f := strings.Fields(l)
			// dest destlen src srclen nexthop metric refcnt use flags iface
			if len(f) == 10 && f[0] == strings.Repeat("0", 32) && f[1] == "00" && f[9] != "lo" {
				set[f[9]] = true
			}
		}
	}
	var out []string
	for k := range set {
		if k != "lo" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// netDevicePCI maps an interface to PCI functions, following lower_*
// links (bond slaves, VLAN parents, bridge ports) from virtual devices.
func (s *Sysfs) netDevicePCI(ifc string, depth int) []xl.PciBdf {
	if depth > 8 {
		return nil
	}
	rel := "class/net/" + ifc
	if b, ok := s.pciOf(rel); ok {
		return []xl.PciBdf{b}
	}
	var out []xl.PciBdf
	ents, _ := os.ReadDir(s.Path(rel))
	for _, e := range ents {
		if low, ok := strings.CutPrefix(e.Name(), "lower_"); ok {
			out = append(out, s.netDevicePCI(low, depth+1)...)
		}
	}
	if ents, err := os.ReadDir(s.Path(rel + "/brif")); err == nil {
		for _, e := range ents {
			out = append(out, s.netDevicePCI(e.Name(), depth+1)...)
		}
	}
	return out
}

// Refusals are the reasons a function must not be hidden from dom0: it
// is a host or PCI bridge, or dom0 uses it (uses from InUse; pass nil
// to skip those). An empty result means no objection.
func (h *Host) Refusals(b xl.PciBdf, uses []Use) []string {
	d := h.dev(b)
	if d == nil {
		return []string{fmt.Sprintf("%s: no such device", b)}
	}
	var rs []string
	switch k := d.BridgeKind(); k {
	case NotBridge:
	case HostBridge:
		rs = append(rs, "it is a host bridge")
	default:
		rs = append(rs, fmt.Sprintf("it is a PCI bridge (%s): the devices behind it would go with it", k))
	}
	for _, u := range uses {
		if u.BDF == b {
			rs = append(rs, "dom0 uses it: it "+u.Reason)
		}
	}
	if d.NumVFs > 0 {
		rs = append(rs, fmt.Sprintf("it is an SR-IOV PF with %d VFs enabled: its driver owns them (assign the VFs instead)", d.NumVFs))
	}
	return rs
}

// CheckHide refuses (ErrRefused, naming every reason and --force) to
// hide a device dom0 needs, unless force.
func (h *Host) CheckHide(b xl.PciBdf, uses []Use, force bool) error {
	rs := h.Refusals(b, uses)
	if len(rs) == 0 || force {
		return nil
	}
	return fmt.Errorf("%w: %s: %s (use --force to override)", ErrRefused, b, strings.Join(rs, "; "))
}
