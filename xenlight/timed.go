package xenlight

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/xl"
)

// Timed returns ts with each libxl call's time logged on log at debug
// level ("timing: libxl pci add", its ms and the ms since the run began):
// where -vv says a run's time went. Below debug level it is ts itself, at
// no cost.
func Timed(ts xl.Toolstack, log logrus.FieldLogger) xl.Toolstack {
	if l, ok := log.(interface{ IsLevelEnabled(logrus.Level) bool }); ts == nil || ok && !l.IsLevelEnabled(logrus.DebugLevel) {
		return ts
	}
	return timed{ts, log}
}

// timed wraps the calls a command makes in its run; the recovery reads
// pass through untimed, as they did.
type timed struct {
	xl.Toolstack
	log logrus.FieldLogger
}

func (t timed) DomainQualifierToID(q string) (uint32, error) {
	return timing.Do(t.log, "libxl domain qualifier", func() (uint32, error) { return t.Toolstack.DomainQualifierToID(q) })
}
func (t timed) DomainInfo(id uint32) (xl.DomainInfo, error) {
	return timing.Do(t.log, "libxl domain info", func() (xl.DomainInfo, error) { return t.Toolstack.DomainInfo(id) })
}
func (t timed) DomainConfig(id uint32) (xl.DomainConfig, error) {
	return timing.Do(t.log, "libxl domain config", func() (xl.DomainConfig, error) { return t.Toolstack.DomainConfig(id) })
}
func (t timed) ListDomains() ([]xl.DomainInfo, error) {
	return timing.Do(t.log, "libxl list domains", t.Toolstack.ListDomains)
}
func (t timed) PhysInfo() (xl.PhysInfo, error) {
	return timing.Do(t.log, "libxl physinfo", t.Toolstack.PhysInfo)
}
func (t timed) PciList(id uint32) ([]xl.DevicePci, error) {
	return timing.Do(t.log, fmt.Sprintf("libxl pci list %d", id), func() ([]xl.DevicePci, error) { return t.Toolstack.PciList(id) })
}
func (t timed) PciAssignableList() ([]xl.DevicePci, error) {
	return timing.Do(t.log, "libxl assignable list", t.Toolstack.PciAssignableList)
}
func (t timed) DomainPause(id uint32) error {
	return t.op("libxl domain pause", func() error { return t.Toolstack.DomainPause(id) })
}
func (t timed) DomainUnpause(id uint32) error {
	return t.op("libxl domain unpause", func() error { return t.Toolstack.DomainUnpause(id) })
}
func (t timed) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	var held bool
	domid, err := timing.Do(t.log, "xenstore pci domid "+b.String(), func() (uint32, error) {
		id, h, err := t.Toolstack.PciXsDomid(b)
		held = h
		return id, err
	})
	return domid, held, err
}
func (t timed) PciAdd(id uint32, d xl.DevicePci) error {
	return t.op("libxl pci add", func() error { return t.Toolstack.PciAdd(id, d) })
}
func (t timed) PciRemove(id uint32, d xl.DevicePci) error {
	return t.op("libxl pci remove", func() error { return t.Toolstack.PciRemove(id, d) })
}
func (t timed) PciDestroy(id uint32, d xl.DevicePci) error {
	return t.op("libxl pci destroy", func() error { return t.Toolstack.PciDestroy(id, d) })
}
func (t timed) PciAssignableAdd(d xl.DevicePci, rebind bool) error {
	return t.op("libxl assignable add", func() error { return t.Toolstack.PciAssignableAdd(d, rebind) })
}
func (t timed) PciAssignableRemove(d xl.DevicePci, rebind bool) error {
	return t.op("libxl assignable remove", func() error { return t.Toolstack.PciAssignableRemove(d, rebind) })
}

func (t timed) op(what string, f func() error) error {
	_, err := timing.Do(t.log, what, func() (struct{}, error) { return struct{}{}, f() })
	return err
}
