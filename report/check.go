package report

import (
	"io"

	"github.com/xlpt/xlpt/hotplug"
)

// CheckDoc is check's document.
type CheckDoc struct {
	Envelope
	hotplug.CheckReport
}

// Check is check's document.
func Check(rep hotplug.CheckReport) *CheckDoc { return &CheckDoc{CheckReport: rep} }

// writeJSON is the report's fast road out (Write takes it): a full
// scan's device list is megabytes, written by hand.
func (d *CheckDoc) writeJSON(w io.Writer) error {
	devs := d.Devices
	d.Devices = []hotplug.DeviceReport{}
	defer func() { d.Devices = devs }()
	return writeCheckJSON(w, d, devs)
}

// MSIDoc is msi's document.
type MSIDoc struct {
	Envelope
	hotplug.MSIReport
}

// MSI is msi's document.
func MSI(rep hotplug.MSIReport) *MSIDoc {
	rep.Devices = orEmpty(rep.Devices)
	return &MSIDoc{MSIReport: rep}
}
