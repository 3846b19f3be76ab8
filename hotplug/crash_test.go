package hotplug

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// The crash matrix: every multi-step operation is stopped after each of
// its steps (each of libxl's internal steps in the fake, each sysfs write
// in the simulated kernel, each journal write), as SIGKILL would stop it.
// Then, in one copy of the world `recover` runs and in another the same
// command is simply run again. Each must end with every device in exactly
// one consistent state, and the command's result reachable.

// crashed is the panic that stands for the process dying.
type crashed struct{ at string }

// crashWorld is a host in the simulated kernel with a libxl fake that
// writes there: a PCIe NIC (nic, e1000e), a 2-function device (mf,
// mfdrv), a PCIe-to-PCI bridge with two e1000 NICs (old1, old2); an HVM
// and a PV guest.
type crashWorld struct {
	t     *testing.T
	k     *pcitest.Kernel
	root  string
	state string
	proc  string
	conf  string // the host setup's directory
	ts    *fakeToolstack
	dev   map[string]xl.PciBdf
	orig  map[xl.PciBdf]string // each device's dom0 driver
	mu    sync.Mutex
	n, at int // steps seen, the step to crash after (0 never)
	where string
	// onStep, when set, sees each step (a test's signal lands there).
	onStep func(what string)
}

func newCrashWorld(t *testing.T) *crashWorld {
	t.Helper()
	// The NIC has MSI-X, as the testbed's e1000e: an HVM attach pauses
	// the guest around libxl's add (pauseForAttach).
	nic := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, MSI: true, MSIX: 5, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e"}
	mf := &pcitest.Node{Kind: pcitest.Endpoint, Funcs: 2, FLR: true, MSI: true, Vendor: 0x10de, Device: 0x1b80, Driver: "mfdrv"}
	o1 := &pcitest.Node{Kind: pcitest.PCIDevice, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"}
	o2 := &pcitest.Node{Kind: pcitest.PCIDevice, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"}
	pf := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, MSIX: 16, Vendor: 0x8086, Device: 0x1521,
		TotalVFs: 8, VFDevice: 0x1520, Driver: "igb", VFDriver: "igbvf"}
	tree, err := pcitest.Generate(memDir(t), pcitest.Topology{Drivers: []string{"pciback", "pci-stub", "e1000e", "e1000", "mfdrv", "igb", "igbvf"},
		Root: []*pcitest.Node{{Kind: pcitest.HostBridgeNode},
			{Kind: pcitest.RootPort, Children: []*pcitest.Node{nic}},
			{Kind: pcitest.RootPort, Children: []*pcitest.Node{mf}},
			{Kind: pcitest.RootPort, Children: []*pcitest.Node{{Kind: pcitest.PCIeToPCI, Children: []*pcitest.Node{o1, o2}}}},
			{Kind: pcitest.RootPort, Children: []*pcitest.Node{pf}}}})
	if err != nil {
		t.Fatal(err)
	}
	w := &crashWorld{t: t, root: tree.Root, state: memDir(t), proc: emptyProc(t), conf: memDir(t), dev: map[string]xl.PciBdf{}, orig: map[xl.PciBdf]string{}}
	w.k = pcitest.NewKernel(t, tree.Root)
	w.k.Native("igbvf", 0x8086, 0x1520)
	for _, f := range tree.Funcs {
		switch f.Node {
		case nic:
			w.dev["nic"] = f.BDF
		case mf:
			w.dev[fmt.Sprintf("mf.%d", f.Index)] = f.BDF
		case o1:
			w.dev["old1"] = f.BDF
		case o2:
			w.dev["old2"] = f.BDF
		case pf:
			w.dev["pf"] = f.BDF
		default:
			continue
		}
		w.orig[f.BDF] = f.Driver
	}
	w.ts = newFake()
	w.ts.k = w.k
	w.ts.addDomain(1, "hvm1", xl.DomainTypeHVM)
	w.ts.addDomain(3, "pv1", xl.DomainTypePV)
	w.ts.crash = w.step
	return w
}

// memDir is a temporary directory in memory (/dev/shm) where there is
// one: the matrix builds a few hundred sysfs trees, and on a busy disk
// each costs a hundred times more.
func memDir(t *testing.T) string {
	d, err := os.MkdirTemp("/dev/shm", "xlpt-crash-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func emptyProc(t *testing.T) string {
	p := memDir(t)
	for name, body := range map[string]string{"mounts": "", "swaps": "Filename\tType\tSize\tUsed\tPriority\n", "net/route": "Iface\tDestination\n", "net/ipv6_route": ""} {
		mustWrite(t, p+"/"+name, body)
	}
	return p
}

// step counts one step; the chosen one stops the process. The devices
// of one command may step at once (parallel.go): one at a time here.
func (w *crashWorld) step(what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.onStep != nil {
		w.onStep(what)
	}
	w.n++
	// Every step from the kill point on dies too: the devices a command
	// handles at once (parallel.go) stop with the process.
	if w.at != 0 && w.n >= w.at {
		if w.n == w.at {
			w.where = what
		}
		panic(crashed{what})
	}
}

// process is one run of xlpt: a fresh scan, the journal, no memory of
// earlier runs.
func (w *crashWorld) process() (*Service, *pcibind.Sysfs) {
	sys := pcibind.New(w.root, pcibind.WithWriter(crashingWriter{w}), pcibind.WithStateDir(w.state), pcibind.WithProcRoot(w.proc))
	host, err := sys.Scan()
	if err != nil {
		w.t.Fatal(err)
	}
	j := NewJournal(w.state)
	j.afterWrite = func() { w.step("journal write") }
	j.noSync = true
	svc := &Service{ts: w.ts, host: host, slots: DefaultSlots, dm: fakeDM{w.ts}, concurrent: true, journal: j, sysfs: sys, configDir: w.conf,
		logger: stdLogger{&logrus.Logger{Out: io.Discard, Formatter: &logrus.TextFormatter{}, Level: logrus.WarnLevel}}}
	return svc, sys
}

// crashingWriter is the simulated kernel, each of xlpt's own sysfs
// writes a step (libxl's are the fake's steps).
type crashingWriter struct{ w *crashWorld }

func (c crashingWriter) WriteAttr(p, v string) error {
	err := c.w.k.WriteAttr(p, v)
	if err == nil {
		rel, _ := filepath.Rel(c.w.root, p)
		c.w.step("sysfs " + rel)
	}
	return err
}

// run runs op in a new process and reports whether it crashed.
func (w *crashWorld) run(op func(*Service, *pcibind.Sysfs) error) (err error, died bool) {
	svc, sys := w.process()
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(crashed); !ok {
				panic(p)
			}
			died = true
		}
	}()
	return op(svc, sys), false
}

// where a device is, when it is consistently somewhere.
const (
	inDom0       = "dom0"
	inAssignable = "assignable"
)

func inDomain(id uint32) string { return fmt.Sprintf("domain %d", id) }

// stateOf says where b is, or why it is in no consistent state.
func (w *crashWorld) stateOf(b xl.PciBdf) (string, error) {
	f := w.ts
	drv := w.k.Driver(b)
	inSlots := false
	for _, s := range w.k.Slots() {
		inSlots = inSlots || s == b.String()
	}
	var listedIn []uint32
	for id := range f.domains {
		if f.listed(id, b) {
			listedIn = append(listedIn, id)
		}
	}
	var inQemu []uint32
	for id, m := range f.staleInDM {
		for _, x := range m {
			if x == b {
				inQemu = append(inQemu, id)
			}
		}
	}
	xsDom, hasDom := f.xsDomid[b]
	xen, xenHeld := f.xenOwner[b]
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%s: "+format+" (driver %q, slots %v, listed %v, qemu %v, xs domid %v/%v, xen %v/%v, quarantined %v, driver_path %q)",
			append(append([]any{b}, a...), drv, inSlots, listedIn, inQemu, xsDom, hasDom, xen, xenHeld, f.quarantined[b], f.xsDriverPath[b])...)
	}
	switch {
	case len(listedIn) == 1:
		id := listedIn[0]
		hvm := f.domains[id].info.Type == xl.DomainTypeHVM
		if drv != "pciback" || !hasDom || xsDom != id || !xenHeld || xen != id || (hvm && (len(inQemu) != 1 || inQemu[0] != id)) || (!hvm && len(inQemu) > 0) {
			return bad("listed in domain %d but not wholly there", id)
		}
		return inDomain(id), nil
	case len(listedIn) > 1:
		return bad("listed in two domains")
	case len(inQemu) > 0 || hasDom || xenHeld:
		return bad("a guest's leftovers")
	case drv == "pciback":
		if !inSlots || !f.quarantined[b] {
			return bad("on pciback but not assignable")
		}
		if want := w.orig[b]; f.xsDriverPath[b] == "" || path.Base(f.xsDriverPath[b]) != want {
			return bad("assignable, but libxl would give it back to %q, not %s", f.xsDriverPath[b], want)
		}
		return inAssignable, nil
	case drv == w.orig[b]:
		if inSlots || f.quarantined[b] || f.xsDriverPath[b] != "" {
			return bad("on its driver with pciback's or libxl's leftovers")
		}
		return inDom0, nil
	}
	return bad("on neither its driver nor pciback")
}

// opCase is one command of the matrix: a setup that runs uncrashed, the
// command, the devices it touches and where they must end.
type opCase struct {
	name  string
	setup func(w *crashWorld)
	op    func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error
	again func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error // the command run after healing (nil: op)
	devs  []string
	want  string
	// sweepOnly: what the dead command left no record explains (xl was
	// killed), so a plain retry refuses, naming `xlpt recover`, which then
	// repairs it.
	sweepOnly bool
	// check, when set, says whether the host is exactly as after the
	// command (instead of devs and want): recovery finishes these
	// commands forward.
	check func(w *crashWorld) error
}

func hide(names ...string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		for _, n := range names {
			if _, err := svc.AssignableAdd(AssignableRequest{Device: w.dev[n], Group: strings.HasPrefix(n, "old")}); err != nil {
				return err
			}
		}
		return nil
	}
}

func giveBack(name string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = w.dev[name], 1
		_, err := svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: true})
		return err
	}
}

func attach(dom, spec string, slot uint8, group, assign bool) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		d, err := xl.ParseSpec(w.spec(spec))
		if err != nil {
			return err
		}
		if slot != 0 {
			d.Vdevfn = xl.Vdevfn(slot, 0)
		}
		_, err = svc.Attach(AttachRequest{Domain: dom, Device: d, Group: group, Assign: assign})
		return err
	}
}

// xlAttach is `xl pci-attach`: libxl alone, no xlpt around it.
func xlAttach(domid uint32, name string, slot uint8) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask, d.Vdevfn = w.dev[name], 1, xl.Vdevfn(slot, 0)
		return w.ts.PciAdd(domid, d)
	}
}

func detach(dom, spec string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		d, err := xl.ParseSpec(w.spec(spec))
		if err != nil {
			return err
		}
		_, err = svc.Detach(DetachRequest{Domain: dom, Device: d})
		return err
	}
}

// detachAll is one pci-detach of several specs: an HVM guest's slots at
// once.
func detachAll(dom string, specs ...string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		req := DetachRequest{Domain: dom}
		for i, sp := range specs {
			d, err := xl.ParseSpec(w.spec(sp))
			if err != nil {
				return err
			}
			if i == 0 {
				req.Device = d
			} else {
				req.More = append(req.More, d)
			}
		}
		_, err := svc.Detach(req)
		return err
	}
}

// spec turns "nic" or "mf.*" into a BDF spec.
func (w *crashWorld) spec(s string) string {
	if strings.HasSuffix(s, ".*") {
		b := w.dev[strings.TrimSuffix(s, ".*")+".0"]
		return fmt.Sprintf("%04x:%02x:%02x.*", b.Domain, b.Bus, b.Dev)
	}
	return w.dev[s].String()
}

func (w *crashWorld) do(f func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error) {
	w.t.Helper()
	if err, _ := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return f(w, svc, sys) }); err != nil {
		w.t.Fatalf("setup: %v", err)
	}
}

var crashCases = []opCase{
	{name: "pci-assignable-add", op: hide("nic"), devs: []string{"nic"}, want: inAssignable},
	{name: "pci-assignable-add --group", op: hide("old1"), devs: []string{"old1", "old2"}, want: inAssignable},
	{name: "pci-assignable-remove -r", setup: func(w *crashWorld) { w.do(hide("nic")) }, op: giveBack("nic"), devs: []string{"nic"}, want: inDom0},
	{name: "pci-attach hvm", setup: func(w *crashWorld) { w.do(hide("nic")) }, op: attach("hvm1", "nic", 7, false, false), devs: []string{"nic"}, want: inDomain(1)},
	{name: "pci-attach pv", setup: func(w *crashWorld) { w.do(hide("nic")) }, op: attach("pv1", "nic", 0, false, false), devs: []string{"nic"}, want: inDomain(3)},
	{name: "pci-attach --assign", op: attach("hvm1", "nic", 6, false, true), devs: []string{"nic"}, want: inDomain(1)},
	{name: "pci-attach multi-function", setup: func(w *crashWorld) { w.do(hide("mf.0", "mf.1")) }, op: attach("hvm1", "mf.*", 6, false, false), devs: []string{"mf.0", "mf.1"}, want: inDomain(1)},
	{name: "pci-attach --group", setup: func(w *crashWorld) { w.do(hide("old1")) }, op: attach("hvm1", "old1", 6, true, false), devs: []string{"old1", "old2"}, want: inDomain(1)},
	{name: "pci-detach hvm", setup: func(w *crashWorld) { w.do(hide("nic")); w.do(attach("hvm1", "nic", 7, false, false)) }, op: detach("hvm1", "nic"), devs: []string{"nic"}, want: inAssignable},
	{name: "pci-detach pv", setup: func(w *crashWorld) { w.do(hide("nic")); w.do(attach("pv1", "nic", 0, false, false)) }, op: detach("pv1", "nic"), devs: []string{"nic"}, want: inAssignable},
	// xl itself killed: no journal; `xlpt recover`'s sweep repairs what
	// libxl left, and xlpt's attach then works.
	{name: "xl pci-attach (no journal)", setup: func(w *crashWorld) { w.do(hide("nic")) }, op: xlAttach(1, "nic", 7),
		again: attach("hvm1", "nic", 7, false, false), devs: []string{"nic"}, want: inDomain(1), sweepOnly: true},
	{name: "pci-detach multi-function", setup: func(w *crashWorld) {
		w.do(hide("mf.0", "mf.1"))
		w.do(attach("hvm1", "mf.*", 6, false, false))
	}, op: detach("hvm1", "mf.*"), devs: []string{"mf.0", "mf.1"}, want: inAssignable},
	{name: "pci-detach of several at once", setup: func(w *crashWorld) {
		w.do(hide("nic", "mf.0", "mf.1"))
		w.do(attach("hvm1", "nic", 7, false, false))
		w.do(attach("hvm1", "mf.*", 6, false, false))
	}, op: detachAll("hvm1", "nic", "mf.*"), devs: []string{"nic", "mf.0", "mf.1"}, want: inAssignable},
}

// outcome of one kill point.
type outcome struct {
	point, after string
	err          error
}

// crashAt runs c, killing it after step at; then heals with recover (or
// with a plain retry) and checks. It returns false when the command
// finished before step at (no more points).
func crashAt(t *testing.T, c opCase, at int, byRecover bool, skip string) (bool, outcome) {
	w := newCrashWorld(t)
	if skip != "" {
		defer leaveOut(skip)()
	}
	if c.setup != nil {
		c.setup(w)
	}
	w.n, w.at = 0, at
	_, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return c.op(w, svc, sys) })
	w.at = 0
	if !died {
		return false, outcome{}
	}
	o := outcome{point: w.where}
	check := func(stage string, final bool) error {
		for id, d := range w.ts.domains {
			if d.paused != 0 {
				return fmt.Errorf("%s: domain %d left paused (%d)", stage, id, d.paused)
			}
		}
		if c.check != nil {
			if err := c.check(w); err != nil {
				return fmt.Errorf("%s: %w", stage, err)
			}
			return nil
		}
		for _, n := range c.devs {
			st, err := w.stateOf(w.dev[n])
			if err != nil {
				return fmt.Errorf("%s: %w", stage, err)
			}
			if final && st != c.want {
				return fmt.Errorf("%s: %s is in %s; the command wanted %s", stage, n, st, c.want)
			}
		}
		return nil
	}
	if byRecover {
		o.after = "recover"
		if err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error { _, err := svc.Recover(false); return err }); err != nil {
			o.err = fmt.Errorf("recover: %w", err)
			return true, o
		}
		if o.err = check("after recover", false); o.err != nil {
			return true, o
		}
	} else {
		o.after = "retry"
		if c.sweepOnly {
			again := c.again
			if again == nil {
				again = c.op
			}
			err, _ := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return again(w, svc, sys) })
			if err != nil && strings.Contains(err.Error(), "already attached") {
				err = nil // xl got far enough: the result is there
			}
			if err != nil && !strings.Contains(err.Error(), "xlpt recover") {
				o.err = fmt.Errorf("retry refused without naming xlpt recover: %w", err)
				return true, o
			}
			if err != nil {
				o.after = "retry (refused, naming xlpt recover), recover"
				if err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error { _, err := svc.Recover(false); return err }); err != nil {
					o.err = fmt.Errorf("recover: %w", err)
					return true, o
				}
			}
		}
	}
	// The command again: it succeeds, or its result is there already.
	again := c.again
	if again == nil {
		again = c.op
	}
	err, _ := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return again(w, svc, sys) })
	if cerr := check("after the command again", true); cerr != nil {
		o.err = fmt.Errorf("%w (the command said: %v)", cerr, err)
		return true, o
	}
	// A retry reports success when its work is done, whoever finished
	// it: a script that retries must not read a failure (issue 22).
	if err != nil && !byRecover && !c.sweepOnly {
		o.err = fmt.Errorf("the retry failed though its work is done: %w", err)
		return true, o
	}
	if pend, _ := NewJournal(w.state).Pending(); len(pend) > 0 {
		o.err = fmt.Errorf("journal records left: %v", pend)
	}
	return true, o
}

func TestCrashAfterEveryStepRecovers(t *testing.T) { crashMatrix(t, crashCases) }

// crashMatrix kills each case after every one of its steps, then heals
// one copy of the world with recover and another with the command run
// again.
func crashMatrix(t *testing.T, cases []opCase) {
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			points := 0
			for at := 1; ; at++ {
				more, o := crashAt(t, c, at, true, "")
				if !more {
					break
				}
				points++
				if o.err != nil {
					t.Errorf("killed after step %d (%s), then %s: %v", at, o.point, o.after, o.err)
				}
				if _, o2 := crashAt(t, c, at, false, ""); o2.err != nil {
					t.Errorf("killed after step %d (%s), then %s: %v", at, o2.point, o2.after, o2.err)
				}
			}
			if points < 3 {
				t.Errorf("only %d kill points: the fake or the journal is not stepping", points)
			}
			t.Logf("%d kill points, each recovered and retried", points)
		})
	}
}

// TestRecoveryMutantsFail shows the matrix can fail: with any one
// reconciler left out, some kill point is not healed.
func TestRecoveryMutantsFail(t *testing.T) {
	for _, rc := range toAssignable {
		rc := rc
		t.Run(rc.name, func(t *testing.T) {
			for _, c := range crashCases {
				for at := 1; ; at++ {
					more, o := crashAt(t, c, at, true, rc.name)
					if !more {
						break
					}
					if o.err != nil {
						t.Logf("caught: %s killed after %s: %v", c.name, o.point, o.err)
						return
					}
				}
			}
			t.Errorf("recovery without the %s reconciler still passed every kill point", rc.name)
		})
	}
}

func mustWrite(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckReportsWhatAKilledXlLeft: the ghost of issue 13 (QEMU has the
// device, libxl lists it nowhere and not as assignable) is reported with
// its repair, and a dry run changes nothing.
func TestCheckReportsWhatAKilledXlLeft(t *testing.T) {
	w := newCrashWorld(t)
	w.do(hide("nic"))
	w.n, w.at = 0, 2 // after the QEMU device_add
	if _, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return xlAttach(1, "nic", 7)(w, svc, sys) }); !died || w.where != "add: qemu device_add" {
		t.Fatalf("kill landed at %q", w.where)
	}
	w.at = 0
	svc, _ := w.process()
	bad, err := svc.Inconsistencies()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range bad {
		got = append(got, r.Device.String()+": "+r.Problem+": "+r.Action)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{w.dev["nic"].String(), "device model has it", "no domain lists it",
		"would delete it from domain 1's device model", "would remove libxl's stale record"} {
		if !strings.Contains(all, want) {
			t.Errorf("check does not say %q:\n%s", want, all)
		}
	}
	rep, err := svc.Recover(true)
	if err != nil || !rep.DryRun {
		t.Fatal(err)
	}
	if _, err := w.stateOf(w.dev["nic"]); err == nil {
		t.Error("the dry run repaired the device")
	}
	if _, err := svc.Recover(false); err != nil {
		t.Fatal(err)
	}
	if st, err := w.stateOf(w.dev["nic"]); err != nil || st != inAssignable {
		t.Errorf("after recover: %q %v", st, err)
	}
}

// killedAt is a fresh world (setup) whose run of op was killed at the
// named step.
func killedAt(t *testing.T, setup func(w *crashWorld), point string, op func(*Service) error) *crashWorld {
	t.Helper()
	for at := 1; ; at++ {
		w := newCrashWorld(t)
		setup(w)
		w.n, w.at = 0, at
		_, died := w.run(func(svc *Service, _ *pcibind.Sysfs) error { return op(svc) })
		w.at = 0
		if !died {
			t.Fatalf("the run ended before %q", point)
		}
		if w.where == point {
			return w
		}
	}
}

// TestRetryAfterKillReportsWhatHappened: a pci-detach killed after QEMU's
// device_del (the testbed's kills at 0.4-1.2 s) and a pci-attach killed
// after libxl's last step are retried as a script would: the retry
// succeeds and says it finished an interrupted run's work (issue 22).
func TestRetryAfterKillReportsWhatHappened(t *testing.T) {
	t.Run("pci-detach", func(t *testing.T) {
		var req DetachRequest
		w := killedAt(t, func(w *crashWorld) {
			w.do(hide("nic"))
			w.do(attach("hvm1", "nic", 7, false, false))
			spec, _ := xl.ParseSpec(w.dev["nic"].String())
			req = DetachRequest{Domain: "hvm1", Device: spec}
		}, "remove: qemu device_del", func(svc *Service) error { _, err := svc.Detach(req); return err })
		var res DetachResult
		err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error { var err error; res, err = svc.Detach(req); return err })
		if err != nil || !res.Resumed || len(res.Detached) != 1 || res.Detached[0].PciBdf != w.dev["nic"] ||
			!strings.Contains(strings.Join(res.Notes, "\n"), "interrupted") {
			t.Errorf("retry: %+v, %v; want the device detached, resumed, and said so", res, err)
		}
		if st, err := w.stateOf(w.dev["nic"]); st != inAssignable {
			t.Errorf("after the retry: %s %v", st, err)
		}
		// Once more: nothing is left to resume, a plain refusal.
		err, _ = w.run(func(svc *Service, _ *pcibind.Sysfs) error { _, err := svc.Detach(req); return err })
		if !errors.Is(err, ErrNotAttached) {
			t.Errorf("third run: %v; want not attached", err)
		}
	})
	t.Run("pci-assignable-add", func(t *testing.T) {
		var req AssignableRequest
		w := killedAt(t, func(w *crashWorld) {
			req = AssignableRequest{Device: w.dev["nic"]}
		}, "assignable-add: quarantine", func(svc *Service) error {
			_, err := svc.AssignableAdd(req)
			return err
		})
		var res AssignableResult
		err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
			var err error
			res, err = svc.AssignableAdd(req)
			return err
		})
		if err != nil || !res.Resumed {
			t.Errorf("retry: %+v, %v; want success, resumed", res, err)
		}
		if st, err := w.stateOf(w.dev["nic"]); st != inAssignable {
			t.Errorf("after the retry: %s %v", st, err)
		}
	})
	t.Run("pci-attach", func(t *testing.T) {
		var req AttachRequest
		w := killedAt(t, func(w *crashWorld) {
			w.do(hide("nic"))
			spec, _ := xl.ParseSpec(w.dev["nic"].String())
			spec.Vdevfn = xl.Vdevfn(7, 0)
			req = AttachRequest{Domain: "hvm1", Device: spec}
		}, "add: xenstore backend + config", func(svc *Service) error { _, err := svc.Attach(req); return err })
		var res AttachResult
		err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error { var err error; res, err = svc.Attach(req); return err })
		if err != nil || !res.Resumed || len(res.Attached) != 1 || res.Attached[0].VSlot() != 7 {
			t.Errorf("retry: %+v, %v; want the device in slot 7, resumed", res, err)
		}
	})
}
