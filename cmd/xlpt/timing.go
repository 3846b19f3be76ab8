package main

import (
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/xl"
)

// Where a run's time goes, at -vv (debug): libxl's open and every libxl
// call, the host read, and the whole run. The speed work (issue 12)
// starts from these lines.
var runStart = time.Now()

func timing(what string, start time.Time) {
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		logrus.WithField("ms", fmt.Sprintf("%.1f", float64(time.Since(start).Microseconds())/1000)).
			WithField("since_start_ms", fmt.Sprintf("%.1f", float64(time.Since(runStart).Microseconds())/1000)).
			Debug("timing: " + what)
	}
}

func timed[T any](what string, f func() (T, error)) (T, error) {
	defer timing(what, time.Now())
	return f()
}

// timedTS logs each libxl call's time at debug level.
type timedTS struct{ hotplug.Toolstack }

func withTiming(ts hotplug.Toolstack) hotplug.Toolstack {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) {
		return ts
	}
	return timedTS{ts}
}

func (t timedTS) DomainQualifierToID(q string) (uint32, error) {
	return timed("libxl domain qualifier", func() (uint32, error) { return t.Toolstack.DomainQualifierToID(q) })
}
func (t timedTS) DomainInfo(id uint32) (xl.DomainInfo, error) {
	return timed("libxl domain info", func() (xl.DomainInfo, error) { return t.Toolstack.DomainInfo(id) })
}
func (t timedTS) DomainConfig(id uint32) (xl.DomainConfig, error) {
	return timed("libxl domain config", func() (xl.DomainConfig, error) { return t.Toolstack.DomainConfig(id) })
}
func (t timedTS) ListDomains() ([]xl.DomainInfo, error) {
	return timed("libxl list domains", t.Toolstack.ListDomains)
}
func (t timedTS) PhysInfo() (xl.PhysInfo, error) {
	return timed("libxl physinfo", t.Toolstack.PhysInfo)
}
func (t timedTS) PciList(id uint32) ([]xl.DevicePci, error) {
	return timed(fmt.Sprintf("libxl pci list %d", id), func() ([]xl.DevicePci, error) { return t.Toolstack.PciList(id) })
}
func (t timedTS) PciAssignableList() ([]xl.DevicePci, error) {
	return timed("libxl assignable list", t.Toolstack.PciAssignableList)
}
func (t timedTS) PciAdd(id uint32, d xl.DevicePci) error {
	_, err := timed("libxl pci add", func() (int, error) { return 0, t.Toolstack.PciAdd(id, d) })
	return err
}
func (t timedTS) PciRemove(id uint32, d xl.DevicePci) error {
	_, err := timed("libxl pci remove", func() (int, error) { return 0, t.Toolstack.PciRemove(id, d) })
	return err
}
func (t timedTS) PciDestroy(id uint32, d xl.DevicePci) error {
	_, err := timed("libxl pci destroy", func() (int, error) { return 0, t.Toolstack.PciDestroy(id, d) })
	return err
}
func (t timedTS) PciAssignableAdd(d xl.DevicePci, rebind bool) error {
	_, err := timed("libxl assignable add", func() (int, error) { return 0, t.Toolstack.PciAssignableAdd(d, rebind) })
	return err
}
func (t timedTS) PciAssignableRemove(d xl.DevicePci, rebind bool) error {
	_, err := timed("libxl assignable remove", func() (int, error) { return 0, t.Toolstack.PciAssignableRemove(d, rebind) })
	return err
}

// timedDM logs the device model clean-up's time at debug level.
type timedDM struct{ hotplug.DeviceModel }

func (t timedDM) RemoveStale(domid uint32, b xl.PciBdf) error {
	_, err := timed("qmp remove stale", func() (int, error) { return 0, t.DeviceModel.RemoveStale(domid, b) })
	return err
}

// timedLock logs the wait for the host lock at debug level.
func timedLock(lock func() (func(), error)) func() (func(), error) {
	return func() (func(), error) { return timed("host lock", lock) }
}

// timedCheck logs a device check's time at debug level.
func timedCheck(what string, check hotplug.DeviceCheck) hotplug.DeviceCheck {
	return func(dom hotplug.Domain, dev xl.DevicePci) ([]string, error) {
		return timed(what, func() ([]string, error) { return check(dom, dev) })
	}
}
