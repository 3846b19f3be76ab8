package report

import (
	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/xl"
)

// SpecsDoc is pci-spec's document: one entry per argument.
type SpecsDoc struct {
	Envelope
	Specs []Spec `json:"specs"`
}

// Spec is one PCI_SPEC_STRING as xl reads it.
type Spec struct {
	Spec    string        `json:"spec"`
	Outcome string        `json:"outcome"` // ok, malformed
	Device  *xl.DevicePci `json:"device,omitempty"`
	Message string        `json:"message,omitempty"` // why it is malformed
}

// Specs reads each spec as xl 4.17 does.
func Specs(specs []string) *SpecsDoc {
	doc := &SpecsDoc{Specs: []Spec{}}
	for _, s := range specs {
		d, err := xl.ParseSpec(s)
		if err != nil {
			doc.Specs = append(doc.Specs, Spec{Spec: s, Outcome: "malformed", Message: err.Error()})
			continue
		}
		doc.Specs = append(doc.Specs, Spec{Spec: s, Outcome: "ok", Device: &d})
	}
	return doc
}

// OK says whether every spec was read.
func (d *SpecsDoc) OK() bool {
	for _, s := range d.Specs {
		if s.Device == nil {
			return false
		}
	}
	return true
}

// HotplugDoc is pci-attach's and pci-detach's document.
type HotplugDoc struct {
	Envelope
	Outcome string         `json:"outcome"` // attached, detached
	Domain  string         `json:"domain"`
	Domid   uint32         `json:"domid"`
	Devices []xl.DevicePci `json:"devices"`
	// Resumed: the work was an interrupted run's, found finished (by
	// this run's recovery); a retry after a kill reports success.
	Resumed bool `json:"resumed"`
}

// Attach is pci-attach's document.
func Attach(res hotplug.AttachResult) *HotplugDoc {
	return &HotplugDoc{Outcome: "attached", Domain: res.Domain.String(), Domid: res.Domain.Domid, Devices: orEmpty(res.Attached), Resumed: res.Resumed}
}

// Detach is pci-detach's document.
func Detach(res hotplug.DetachResult) *HotplugDoc {
	return &HotplugDoc{Outcome: "detached", Domain: res.Domain.String(), Domid: res.Domain.Domid, Devices: orEmpty(res.Detached), Resumed: res.Resumed}
}

// PciListDoc is pci-list's document.
type PciListDoc struct {
	Envelope
	Domain  string         `json:"domain"`
	Domid   uint32         `json:"domid"`
	Devices []xl.DevicePci `json:"devices"`
}

// PciList is pci-list's document: the devices dom holds.
func PciList(dom hotplug.Domain, devs []xl.DevicePci) *PciListDoc {
	return &PciListDoc{Domain: dom.String(), Domid: dom.Domid, Devices: orEmpty(devs)}
}

// DevicesDoc is pci-assignable-list's document.
type DevicesDoc struct {
	Envelope
	Devices []xl.DevicePci `json:"devices"`
}

// AssignableList is pci-assignable-list's document.
func AssignableList(devs []xl.DevicePci) *DevicesDoc { return &DevicesDoc{Devices: orEmpty(devs)} }

// AssignableDoc is pci-assignable-add's document.
type AssignableDoc struct {
	Envelope
	Outcome string           `json:"outcome"` // assignable
	Hidden  []hotplug.Hidden `json:"hidden"`  // what this run moved ([] when it was assignable already)
	Resumed bool             `json:"resumed"` // an interrupted run's hide, finished by this run's recovery
}

// AssignableAdd is pci-assignable-add's document.
func AssignableAdd(res hotplug.AssignableResult) *AssignableDoc {
	return &AssignableDoc{Outcome: "assignable", Hidden: orEmpty(res.Hidden), Resumed: res.Resumed}
}

// ReleaseDoc is pci-assignable-remove's document.
type ReleaseDoc struct {
	Envelope
	Outcome string `json:"outcome"` // released
	Device  string `json:"device"`  // as given: BDF or name
	Rebind  bool   `json:"rebind"`
	Message string `json:"message"`
}

// AssignableRemove is pci-assignable-remove's document: device as the
// operator named it.
func AssignableRemove(device string, rebind bool, res hotplug.ReleaseResult) *ReleaseDoc {
	return &ReleaseDoc{Outcome: "released", Device: device, Rebind: rebind, Message: res.Message}
}

// HideDoc is hide-cmdline's document.
type HideDoc struct {
	Envelope
	Cmdline string      `json:"cmdline"`
	Devices []xl.PciBdf `json:"devices"`
}

// HideCmdline is hide-cmdline's document.
func HideCmdline(res hotplug.HideCmdlineResult) *HideDoc {
	return &HideDoc{Cmdline: res.Cmdline, Devices: res.Devices}
}
