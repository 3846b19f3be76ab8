package hotplug

import (
	"strings"
	"sync"

	"github.com/xlpt/xlpt/xl"
)

// Several devices of one guest at once. An HVM guest's PCI add or remove
// spends most of its time waiting, with libxl's ctx lock released: for
// QEMU's device_add, for the guest's ACPI eject after device_del and
// libxl's polls of query-pci a second apart. libxl_ctx is thread-safe and
// runs its own steps (xenstore, Xen's assignment, the reset) one at a
// time under that lock, so k adds or removes on one ctx overlap their
// waits and take about as long as one. What stays in order:
//   - the functions of one guest slot: on attach function 0 comes last,
//     once every other function of the slot is in (the guest scans the
//     slot when function 0 arrives); on detach highest first, as libxl's
//     own BB:DD.* remove, since the guest ejects the slot whole;
//   - pci-assignable-add before an attach (sysfs binding, one at a time);
//   - PV guests: libxl does a PV guest's whole add or remove (pciback's
//     xenstore reconfiguration and its waits) holding its ctx lock, and
//     pciback reconfigures one device at a time: nothing would overlap.
// Each device's steps are journaled as they happen; an attach that fails
// undoes every device it added, and the errors of all devices that
// failed are returned together (batchError), each naming its device.

// parallelFor says whether operations on several devices of dom run at
// once: the toolstack takes them (Env.Concurrent) and dom is HVM.
func (s *Service) parallelFor(dom Domain) bool { return s.concurrent && dom.IsHVM() }

// stopAsked says whether a chain of devices must stop before its next
// device: SIGINT or SIGTERM came (interrupt.go). The first to ask gets
// ErrInterrupted, if no journal step has returned it yet; every chain
// stops, as one device after another did.
func (s *Service) stopAsked() (bool, error) {
	if s.interruptedBy() == nil {
		return false, nil
	}
	return true, s.interruption()
}

// each runs fn(0) .. fn(n-1): at once when parallel, each to its end,
// else in order, stopping at the first error. It returns each one's
// error. A panic in one (a bug, or a test's simulated crash) is raised
// again here once all have returned.
func each(parallel bool, n int, fn func(i int) error) []error {
	errs := make([]error, n)
	if !parallel || n < 2 {
		for i := 0; i < n; i++ {
			if errs[i] = fn(i); errs[i] != nil {
				break
			}
		}
		return errs
	}
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = fn(i)
		}(i)
	}
	wg.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
	return errs
}

// batchError is the failures of several devices in one command, in the
// command's device order; each names its device.
type batchError []error

func (e batchError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e batchError) Unwrap() []error { return e }

// joinErrors is nil, the one error, or a batchError of them all.
func joinErrors(errs []error) error {
	var out batchError
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// bySlot groups devices by guest slot, in the order given: the functions
// of one guest slot stay together, in order. A device without a guest
// slot (a PV guest's) is a group of its own only when parallel; else
// everything is one group, in order.
func bySlot(parallel bool, devs []xl.DevicePci) [][]int {
	if !parallel {
		all := make([]int, len(devs))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	idx := map[uint8]int{}
	var out [][]int
	for i, d := range devs {
		slot := d.VSlot()
		j, ok := idx[slot]
		if !ok || slot == 0 {
			j = len(out)
			idx[slot] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}
