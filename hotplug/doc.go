// Package hotplug decides: attach, detach and list PCI devices of a
// domain, hide them from dom0 and give them back, set SR-IOV VFs, keep
// the host's setup across reboots, move devices between guests and
// through a live migration, and recover what a run that died left, with
// the rules Xen 4.17 and libxl leave out.
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
//   - Every refusal names the device, the sibling or occupant, and the
//     fix, and comes before any change, answered from what is at hand
//     (sysfs, libxl's xenstore record of a function, the domain's info);
//     a domain whose stored configuration refuses devices (passthrough
//     disabled, populate-on-demand) is named so when libxl's add fails,
//     which is when that configuration is read. A multi-step change is
//     undone if a later step fails.
//   - An HVM guest's devices are added and removed at once, a guest
//     slot's functions in order (parallel.go).
//   - Every host change is a journal operation under the host lock for
//     its whole length, its preflight included (hide, give back, attach,
//     detach, SR-IOV counts, --persist edits, restore, each migration
//     command): its intent is written before its first change, and a run
//     that dies is finished or undone by the next change or by `xlpt
//     recover`; SIGINT and SIGTERM finish or undo it the same way.
//   - What xlpt reads back is untrusted input (issue 25): intent records
//     (bound to their boot, guest and run), plans from another host,
//     QEMU's answers, devices.conf and the host config are bounded and
//     checked before anything acts on them.
//
// The package prints nothing and reads no flags. One constructor, New,
// builds the Service from an Env: the host's sysfs (*pcibind.Sysfs, on
// /sys, a recorded tree or the simulated kernel), libxl through the
// Toolstack interface (xl.Toolstack: *xenlight.Context, or a fake), QEMU
// through DeviceModel, the state and config directories, a Logger and a
// Clock. The service reads the host itself. It builds without cgo.
//
// Files, by room:
//
//	the service
//	  env.go            Env, New, Logger, Clock; reading the host, the lock, the checks' timing
//	  service.go        Toolstack, DeviceModel, Domain, the refusals' sentinels, resolve, preflight, List
//	  memo.go           Memo: libxl's answers remembered for one run
//	  parallel.go       several devices of one guest at once
//	  hostconfig.go     the host config (xlpt.conf): slots, state dir, lock timeout
//	  roots.go          Roots, FindRoots: where a host's files are (a recorded host's under its root)
//	attach and detach
//	  attach.go         Attach: plan, checks, slot choice, the stale QEMU device
//	  detach.go         Detach, and a detach a dead run left half done
//	  leftover.go       what a forced detach leaves mapped into a guest (Xen 4.18+), and the refusals it calls for
//	  slots.go          the hot-plug slot policy
//	  group.go          the same-domain rule
//	  checks.go         the preflight checks of an attach (RDM, MSI) and the reserved regions
//	hiding and giving back
//	  assignable.go     AssignableAdd (hide, with --group, --force) and AssignableRemove
//	  readiness.go      JudgeReadiness, the one rule of check and pci-assignable-add
//	  owner.go          who holds a function: libxl's lists, pciback, dom0 drivers
//	SR-IOV
//	  sriov.go          SetVFs (release, autoprobe, count through 0, hide), SRIOVList, SRIOVCheck
//	persistence and restore
//	  persist.go        the host setup (devices.conf): format, edits, SetupEdit
//	  restore.go        Restore: the setup applied, entry by entry, each checked for identity
//	journal and recovery
//	  journal.go        Journal, Record, the operations and their intents; a record read back
//	                    is checked (Record.Check) and one that cannot be acted on set aside
//	  journal_world.go  a record's world: the boot, the live run, the guest behind a domid
//	  interrupt.go      SIGINT and SIGTERM under the lock: finished or undone through the journal
//	  recover.go        Recover and the implicit recovery: libxl's operations, the sweep, the reconcilers
//	  recover_ops.go    recovery of sysfs hides, SR-IOV, restore, migrations, setup edits
//	migration and moves
//	  migrate.go        Migration: detach for xl migrate, preflight, the plan's devices
//	  migrate_attach.go attach on the target (by BDF or identity), rollback
//	  migrate_check.go  the preflight: detach --dry-run (a preview plan) and check on the target
//	  migrate_identity.go  a device's identity and the match on another host
//	  migrate_plan.go   the plan (version 1) and its file
//	  move.go           pci-move between running guests
//	reports (read only)
//	  check.go          Check: check's report on every device, owners, inconsistencies, open
//	                    intent records, the verdict filter and the summary
//	  report.go         HideCmdline, MSI
//	  guestcfg.go       an xl.cfg read as xl does, and checked before xl create
package hotplug
