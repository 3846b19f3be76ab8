package pcibind

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// IsStub reports the drivers that hold a device for passthrough.
func IsStub(driver string) bool {
	return driver == DriverPciback || driver == "xen-pciback" || driver == DriverPciStub
}

// IsPciback reports pciback, the only stub libxl assigns from.
func IsPciback(driver string) bool { return driver == DriverPciback || driver == "xen-pciback" }

// GroupSiblings returns the other members of b's same-domain group.
func (h *Host) GroupSiblings(b xl.PciBdf) []xl.PciBdf {
	defer h.locked()()
	return h.groupSiblings(b)
}

func (h *Host) groupSiblings(b xl.PciBdf) []xl.PciBdf {
	var out []xl.PciBdf
	for _, m := range h.group(b) {
		if m != b {
			out = append(out, m)
		}
	}
	return out
}

// SiblingsHeldByDom0 returns the members of b's group still bound to a
// dom0 driver (or to none): hiding b alone would split the group.
func (h *Host) SiblingsHeldByDom0(b xl.PciBdf) []xl.PciBdf {
	defer h.locked()()
	var out []xl.PciBdf
	for _, m := range h.groupSiblings(b) {
		if d, ok := h.byBDF[m]; ok && !IsStub(d.Driver) {
			out = append(out, m)
		}
	}
	return out
}

// SplitGroups returns, for a set of BDFs meant to be hidden together,
// one message per same-domain group the set only partly covers.
func (h *Host) SplitGroups(set []xl.PciBdf) []string {
	defer h.locked()()
	in := map[xl.PciBdf]bool{}
	for _, b := range set {
		in[b] = true
	}
	done := map[xl.PciBdf]bool{}
	var msgs []string
	for _, b := range set {
		h.get(b)
		top, ok := h.groups[b]
		if !ok || done[top] {
			continue
		}
		done[top] = true
		var missing []xl.PciBdf
		for _, m := range h.group(b) {
			if !in[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			msgs = append(msgs, fmt.Sprintf("%s is behind conventional bridge %s and must go to the same domain as %s, which would stay with dom0",
				b, top, joinBdfs(missing)))
		}
	}
	return msgs
}

// HideCmdline is the boot-time form that makes pciback claim devices
// before any dom0 driver: xen-pciback.hide=(0000:01:00.0)(0000:03:00.0).
// BDFs are sorted and deduplicated.
func HideCmdline(bdfs []xl.PciBdf) string {
	s := append([]xl.PciBdf(nil), bdfs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Less(s[j]) })
	var b strings.Builder
	b.WriteString("xen-pciback.hide=")
	for i, x := range s {
		if i > 0 && x == s[i-1] {
			continue
		}
		b.WriteString("(" + x.String() + ")")
	}
	return b.String()
}
