package xlcfg

import (
	"fmt"
	"os"

	"github.com/xlpt/xlpt/xl"
)

// Load reads and parses the xl.cfg at path. A file xl would refuse is an
// error matching ErrSyntax that says so.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the guest's xl.cfg: %w", err)
	}
	f, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (xl would refuse this file)", path, err)
	}
	return f, nil
}

// pciList parses spec, then reads the pci list of the file at path.
func pciList(path, spec string) (xl.DevicePci, []string, error) {
	d, err := xl.ParseSpec(spec)
	if err != nil {
		return d, nil, err
	}
	f, err := Load(path)
	if err != nil {
		return d, nil, err
	}
	list, _, err := f.StringList("pci")
	return d, list, err
}

// AddPci appends spec to the pci list of the file at path (as WriteList
// edits it), refusing a device the list has already, under any spec.
func AddPci(path, spec string) error {
	d, list, err := pciList(path, spec)
	if err != nil {
		return err
	}
	for _, s := range list {
		if e, err := xl.ParseSpec(s); err == nil && e.SameDevice(d) {
			return fmt.Errorf("%s: %s is already in pci as %q", path, d.Describe(), s)
		}
	}
	return WriteList(path, "pci", append(list, spec))
}

// RemovePci removes every entry of the pci list of the file at path that
// names the device spec names (by BDF, or by name=), and returns them
// with the device.
func RemovePci(path, spec string) (removed []string, d xl.DevicePci, err error) {
	d, list, err := pciList(path, spec)
	if err != nil {
		return nil, d, err
	}
	var keep []string
	for _, s := range list {
		if e, err := xl.ParseSpec(s); err == nil && e.SameDevice(d) {
			removed = append(removed, s)
			continue
		}
		keep = append(keep, s)
	}
	if len(keep) == len(list) {
		return nil, d, fmt.Errorf("%s: %s is not in pci (%d entries)", path, d.Describe(), len(list))
	}
	return removed, d, WriteList(path, "pci", keep)
}
