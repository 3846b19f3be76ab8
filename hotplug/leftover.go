package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xlpt/xlpt/xl"
)

// What a forced detach leaves in a running HVM guest.
//
// libxl's forced remove (libxl_device_pci_destroy) of a function the
// guest has not released returns while the guest's QEMU still has the
// device, its memory BARs still mapped into the guest: QEMU unmaps them
// when the guest ejects it. Since Xen 4.18 (libxl commit 39113a8a2,
// "Revoke permissions when a PCI detach for HVM domain") the forced path
// revokes the guest's I/O memory permission first, and Xen checks that
// permission on an unmap too (XEN_DOMCTL_memory_mapping), so QEMU's unmap
// is refused without a word: the mappings stay until the domain is
// destroyed. The guest can still reach the device's registers, and a
// device hot-plugged later whose BARs the guest places over them makes
// Xen crash the domain ("GFN … not permitted", set_typed_p2m_entry).
// Seen on the Xen 4.20 testbed with xl as with xlpt
// (docs/xen-versions.md).
//
// So a forced detach of a function QEMU still holds leaves a record
// (STATE_DIR/leftovers/DOMID-UUID.json), and while the domain lives xlpt
// refuses to hot-plug into it and to hand the function to dom0 or
// another guest. On Xen 4.17, whose libxl keeps the permission, QEMU's
// unmap works: there the record ends once QEMU no longer has the
// function (the guest ejected it).

// ErrLeftoverMappings: a forced detach left a device's memory mapped into
// a running guest.
var ErrLeftoverMappings = errors.New("a forced detach left device memory mapped into the guest")

// leftover is one domain's record.
type leftover struct {
	Domid   uint32    `json:"domid"`
	UUID    string    `json:"uuid"`
	Name    string    `json:"name"`
	Devices []string  `json:"devices"`
	Until   string    `json:"until"` // "destroy" (Xen ≥ 4.18, or unknown) or "eject" (4.17)
	Time    time.Time `json:"time"`
	path    string
}

func (l *leftover) String() string {
	if l.Name != "" {
		return l.Name
	}
	return fmt.Sprintf("domain %d", l.Domid)
}

func (s *Service) leftoverDir() string {
	if s.stateDir == "" {
		return ""
	}
	return filepath.Join(s.stateDir, "leftovers")
}

// noteForcedLeftover records b, forced out of dom while its QEMU still
// holds it, and says what that means for the user.
func (s *Service) noteForcedLeftover(dom Domain, b xl.PciBdf) (string, error) {
	until := "destroy"
	if phys, err := s.ts.PhysInfo(); err == nil && phys.XenMajor == 4 && phys.XenMinor > 0 && phys.XenMinor < 18 {
		until = "eject"
	}
	msg := fmt.Sprintf("%s never released %s: its QEMU still has it, with the device's memory mapped into the guest", dom, b)
	if until == "destroy" {
		msg += " for as long as it runs (libxl revoked the permission QEMU needs to unmap it)"
	} else {
		msg += " until the guest ejects it"
	}
	clear := "restart " + dom.String() + " to clear it"
	if until == "eject" {
		clear = "the guest's eject, or its restart, clears it"
	}
	msg += fmt.Sprintf("; until then xlpt refuses to hot-plug into %s (Xen would crash it if a new device landed there) "+
		"and to hand %s to dom0 or another guest: %s", dom, b, clear)
	dir := s.leftoverDir()
	if dir == "" {
		return msg, nil
	}
	uuid := uuidString(dom.Info)
	l := leftover{Domid: dom.Domid, UUID: uuid, Name: dom.Name, Until: until, Time: time.Now().UTC()}
	l.path = filepath.Join(dir, fmt.Sprintf("%d-%s.json", dom.Domid, uuid))
	if old, err := readLeftover(l.path); err == nil {
		l.Devices = old.Devices
	}
	if !containsString(l.Devices, b.String()) {
		l.Devices = append(l.Devices, b.String())
	}
	return msg, writeLeftover(&l)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readLeftover(path string) (*leftover, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var l leftover
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.path = path
	return &l, nil
}

func writeLeftover(l *leftover) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

// liveLeftovers reads the records whose domain still runs, and drops
// the others: a domain gone (or its domid now another guest's), and on
// 4.17 the functions QEMU no longer has.
func (s *Service) liveLeftovers() ([]*leftover, error) {
	dir := s.leftoverDir()
	if dir == "" || s.ts == nil {
		return nil, nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var live []*leftover
	for _, p := range paths {
		l, err := readLeftover(p)
		if err != nil {
			return nil, fmt.Errorf("read a record of a forced detach: %w (remove it if its domain is gone)", err)
		}
		info, err := s.ts.DomainInfo(l.Domid)
		if err != nil || uuidString(info) != l.UUID || info.State.Has(xl.StateDying) {
			os.Remove(p)
			continue
		}
		if l.Until == "eject" && s.dm != nil {
			var still []string
			for _, d := range l.Devices {
				b, _, perr := xl.ParseBdf(d)
				if in, err := s.inDeviceModel(l.Domid, b); perr != nil || err != nil || in {
					still = append(still, d)
				}
			}
			if len(still) == 0 {
				os.Remove(p)
				continue
			}
			l.Devices = still
		}
		live = append(live, l)
	}
	return live, nil
}

// refuseLeftovers refuses a hot-plug into dom, or of devs, while a forced
// detach's mappings stay in a running guest.
func (s *Service) refuseLeftovers(dom Domain, devs []xl.PciBdf) error {
	live, err := s.liveLeftovers()
	if err != nil {
		return err
	}
	for _, l := range live {
		if l.Domid == dom.Domid && dom.IsHVM() {
			return fmt.Errorf("%w: %s still maps the memory of %s, forced out of it (the guest never released it); "+
				"Xen crashes the domain if a new device's memory lands there: restart %s (shut it down or destroy it, then create it) "+
				"before hot-plugging into it", ErrLeftoverMappings, l, strings.Join(l.Devices, ", "), l)
		}
		for _, b := range devs {
			if containsString(l.Devices, b.String()) {
				return s.leftoverHeld(l, b)
			}
		}
	}
	return nil
}

// refuseLeftoverRelease refuses to give b to dom0 while a running guest
// still maps its memory.
func (s *Service) refuseLeftoverRelease(b xl.PciBdf) error {
	live, err := s.liveLeftovers()
	if err != nil {
		return err
	}
	for _, l := range live {
		if containsString(l.Devices, b.String()) {
			return s.leftoverHeld(l, b)
		}
	}
	return nil
}

func (s *Service) leftoverHeld(l *leftover, b xl.PciBdf) error {
	return fmt.Errorf("%w: %s was forced out of %s, which never released it and still maps its memory "+
		"(it can still reach the device's registers): restart %s before giving %s to anyone else",
		ErrLeftoverMappings, b, l, l, b)
}
