// Package hotplug decides: attach, detach and list PCI devices of a
// domain, with the rules Xen 4.17 and libxl leave out.
//
//   - HVM guests get hot-plugged devices in the hot-plug slot range (6-7 by
//     default, as the VT-d howto reserves them): a requested slot outside
//     it is refused unless asked for, an occupied one names its occupant,
//     and no slot means the lowest free one.
//   - Conventional PCI devices behind one PCIe-to-PCI (or legacy PCI)
//     bridge go to one domain: all functions of the group belong to the
//     target domain already, or come in the same request.
//   - Multi-function devices are attached function by function with
//     explicit vdevfn, because libxl 4.17 attaches only one function for
//     BB:DD.*.
//   - Readiness (JudgeReadiness) is one rule: the verdict `check` reports
//     and the refusal pci-assignable-add enforces.
//   - Reserved device memory is checked before a hot-plug into an HVM
//     guest (RdmCheck, with the regions from an rdm.Finder), MSI before
//     any (MsiCheck).
//   - Live migration with devices (Migration): refuse a guest Xen will not
//     migrate, record every device in a plan (PlanStore) before the first
//     detach, put the devices back on the target by BDF or identity in
//     their old slots (all or none), or back on the source; pci-move
//     (Migration.Move) between running guests, back to FROM on failure.
//     The plan records each step, so every command resumes after a crash.
//   - Every refusal comes before any change, names the device, the sibling
//     or occupant, and the fix; a multi-step attach or hide is undone if a
//     later step fails.
//
// The package only decides: it prints nothing and reads no flags. libxl is
// reached through the small Toolstack interface declared here (satisfied
// by *xenlight.Context, and by a fake in the tests); the host's PCI view
// comes from pcibind through Host, sysfs binding through Binder, reserved
// regions through RegionSource. It builds without cgo.
package hotplug
