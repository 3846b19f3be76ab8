package pcitest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// recTB records the kernel's complaints instead of failing the test.
type recTB struct{ errs []string }

func (r *recTB) Helper() {}
func (r *recTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type kfix struct {
	t    *testing.T
	tree *Tree
	k    *Kernel
	tb   *recTB
}

func newKfix(t *testing.T) *kfix {
	tr, err := Generate(TempDir(t), Sample())
	if err != nil {
		t.Fatal(err)
	}
	tb := &recTB{}
	return &kfix{t: t, tree: tr, k: NewKernel(tb, tr.Root), tb: tb}
}

// w writes rel=value and checks the errno (nil for success).
func (f *kfix) w(rel, value string, want error) {
	f.t.Helper()
	err := f.k.WriteAttr(filepath.Join(f.tree.Root, rel), value)
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		f.t.Errorf("write %q to %s: %v, want %v", value, rel, err, want)
	}
	var we *pcibind.WriteError
	if err != nil && (!errors.As(err, &we) || we.Value != value) {
		f.t.Errorf("write error %v does not carry the value %q", err, value)
	}
}

// find returns the first generated function matching pred.
func (f *kfix) find(pred func(*Func) bool) *Func {
	f.t.Helper()
	for _, fn := range f.tree.Funcs {
		if pred(fn) {
			return fn
		}
	}
	f.t.Fatal("no such function in Sample")
	return nil
}

func (f *kfix) e1000e() *Func {
	return f.find(func(fn *Func) bool { return fn.Driver == "e1000e" })
}

func TestKernelBindUnbind(t *testing.T) {
	f := newKfix(t)
	dev := f.e1000e()
	bdf := dev.BDF.String()
	f.w("bus/pci/drivers/e1000e/bind", bdf, syscall.EBUSY) // already bound
	f.w("bus/pci/drivers/igb/unbind", bdf, syscall.ENODEV) // not its driver
	f.w("bus/pci/drivers/e1000e/unbind", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "" {
		t.Fatalf("after unbind driver %q", d)
	}
	if _, err := os.Lstat(filepath.Join(f.tree.Root, "bus/pci/drivers/e1000e", bdf)); err == nil {
		t.Errorf("drivers/e1000e/%s link left behind", bdf)
	}
	f.w("bus/pci/drivers/e1000e/unbind", bdf, syscall.ENODEV) // double unbind
	f.w("bus/pci/drivers/igb/bind", bdf, syscall.ENODEV)      // no ID match
	f.w("bus/pci/drivers/pciback/bind", bdf, syscall.ENODEV)  // probe: not in slots
	f.w("bus/pci/drivers/e1000e/bind", "0000:77:00.0", syscall.ENODEV)
	f.w("bus/pci/drivers/e1000e/bind", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "e1000e" {
		t.Fatalf("after bind driver %q", d)
	}
	// The scanner sees what the kernel did.
	h, err := pcibind.New(f.tree.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device(dev.BDF); d.Driver != "e1000e" {
		t.Errorf("scan sees driver %q", d.Driver)
	}
	if len(f.tb.errs) != 0 {
		t.Errorf("kernel complained: %v", f.tb.errs)
	}
}

func TestKernelPcibackSlots(t *testing.T) {
	f := newKfix(t)
	dev := f.e1000e()
	bdf := dev.BDF.String()
	f.w("bus/pci/drivers/pciback/new_slot", "junk", syscall.EINVAL)
	f.w("bus/pci/drivers/pciback/remove_slot", bdf, syscall.ENOENT)
	f.w("bus/pci/drivers/pciback/new_slot", bdf, nil)
	f.w("bus/pci/drivers/pciback/new_slot", bdf, nil)
	if s := f.k.Slots(); len(s) != 2 {
		t.Errorf("new_slot twice gave slots %v; pciback keeps duplicates", s)
	}
	f.w("bus/pci/drivers/e1000e/unbind", bdf, nil)
	f.w("bus/pci/drivers/pciback/bind", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "pciback" {
		t.Fatalf("driver %q, want pciback", d)
	}
	f.w("bus/pci/drivers/pciback/remove_slot", bdf, nil)
	if s := f.k.Slots(); len(s) != 0 {
		t.Errorf("slots %v after remove_slot", s)
	}
}

func TestKernelNewIDAndOverride(t *testing.T) {
	f := newKfix(t)
	dev := f.e1000e()
	bdf := dev.BDF.String()
	f.w("bus/pci/drivers/pci-stub/new_id", "zz", syscall.EINVAL)
	f.w("bus/pci/drivers/pci-stub/remove_id", "8086 10d3", syscall.ENODEV)
	// new_id binds unbound matching devices at once.
	f.w("bus/pci/drivers/e1000e/unbind", bdf, nil)
	f.w("bus/pci/drivers/pci-stub/new_id", "8086 10d3", nil)
	if d := f.k.Driver(dev.BDF); d != "pci-stub" {
		t.Fatalf("new_id did not attach the unbound device: %q", d)
	}
	f.w("bus/pci/drivers/pci-stub/new_id", "8086 10d3", syscall.EEXIST)
	f.w("bus/pci/drivers/pci-stub/remove_id", "8086 10d3", nil)
	if ids := f.k.DynIDs("pci-stub"); len(ids) != 0 {
		t.Errorf("dynids %v after remove_id", ids)
	}
	f.w("bus/pci/drivers/pci-stub/unbind", bdf, nil)
	// An override decides alone: the native driver no longer matches.
	f.w("bus/pci/devices/"+bdf+"/driver_override", "pciback", nil)
	f.w("bus/pci/drivers/e1000e/bind", bdf, syscall.ENODEV)
	f.w("bus/pci/drivers_probe", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "pciback" {
		t.Fatalf("drivers_probe with override bound %q", d)
	}
	f.w("bus/pci/drivers/pciback/unbind", bdf, nil)
	f.w("bus/pci/devices/"+bdf+"/driver_override", "\n", nil)
	if o := f.k.Override(dev.BDF); o != "" {
		t.Errorf("override %q after clearing", o)
	}
	f.w("bus/pci/drivers_probe", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "e1000e" {
		t.Errorf("drivers_probe bound %q, want the native e1000e", d)
	}
	f.w("bus/pci/drivers_probe", "0000:77:00.0", syscall.ENODEV)
}

func TestKernelSRIOV(t *testing.T) {
	f := newKfix(t)
	pf := f.find(func(fn *Func) bool { return fn.Node.TotalVFs > 0 && !fn.IsVF })
	attr := "bus/pci/devices/" + pf.BDF.String() + "/sriov_numvfs"
	f.w(attr, "9", syscall.ERANGE)
	f.w(attr, "2", syscall.EBUSY) // 4 enabled: must go through 0
	f.w(attr, "x", syscall.EINVAL)
	f.w(attr, "0", nil)
	h, err := pcibind.New(f.tree.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device(pf.BDF); d.NumVFs != 0 || len(d.VFs) != 0 || len(h.Devices) != len(f.tree.Funcs)-pf.Node.NumVFs {
		t.Errorf("after numvfs=0: %d VFs listed, %d devices", len(d.VFs), len(h.Devices))
	}
	f.w(attr, "8", nil)
	h, err = pcibind.New(f.tree.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := h.Device(pf.BDF)
	if d.NumVFs != 8 || len(d.VFs) != 8 {
		t.Fatalf("after numvfs=8: %d/%v", d.NumVFs, d.VFs)
	}
	for _, vf := range d.VFs {
		v, ok := h.Device(vf)
		if !ok || !v.IsVF() || *v.PhysFn != pf.BDF {
			t.Errorf("VF %s not linked to its PF", vf)
			continue
		}
		if v.Vendor != d.Vendor || v.Device != d.Caps.SRIOV.VFDevice || v.Class != d.Class {
			t.Errorf("VF %s IDs %04x:%04x class %06x, want %04x:%04x %06x", vf, v.Vendor, v.Device, v.Class,
				d.Vendor, d.Caps.SRIOV.VFDevice, d.Class)
		}
	}
}

func TestKernelFaultsAndUnhandled(t *testing.T) {
	f := newKfix(t)
	dev := f.e1000e()
	bdf := dev.BDF.String()
	// A one-shot fault fires once and changes nothing.
	f.k.Fail("e1000e", "unbind", Fault{Err: syscall.EIO})
	f.w("bus/pci/drivers/e1000e/unbind", bdf, syscall.EIO)
	if d := f.k.Driver(dev.BDF); d != "e1000e" {
		t.Errorf("failed unbind changed the driver to %q", d)
	}
	// An applied fault changes the state and still fails.
	f.k.Fail("e1000e", "unbind", Fault{Err: syscall.EIO, Applied: true})
	f.w("bus/pci/drivers/e1000e/unbind", bdf, syscall.EIO)
	if d := f.k.Driver(dev.BDF); d != "" {
		t.Errorf("applied fault left driver %q", d)
	}
	// Sticky faults keep firing; FailNth counts writes.
	f.k.Fail("e1000e", "bind", Fault{Err: syscall.ENOMEM, Sticky: true})
	f.w("bus/pci/drivers/e1000e/bind", bdf, syscall.ENOMEM)
	f.w("bus/pci/drivers/e1000e/bind", bdf, syscall.ENOMEM)
	f.k.Fail("e1000e", "bind", Fault{}) // clears the sticky fault
	f.k.FailNth(len(f.k.Writes)+1, Fault{Err: syscall.EAGAIN})
	f.w("bus/pci/drivers/e1000e/bind", bdf, nil)
	if d := f.k.Driver(dev.BDF); d != "e1000e" {
		t.Errorf("bind after clearing the fault: driver %q", d)
	}
	f.w("bus/pci/drivers/e1000e/unbind", bdf, syscall.EAGAIN)
	if len(f.tb.errs) != 0 {
		t.Fatalf("complaints before the unhandled write: %v", f.tb.errs)
	}
	// Unhandled writes fail the test (here: are recorded).
	f.w("bus/pci/devices/"+bdf+"/enable", "1", syscall.EPERM)
	f.w("bus/pci/drivers/e1000e/permissive", bdf, syscall.EPERM)
	if len(f.tb.errs) != 2 || !strings.Contains(f.tb.errs[0], "unhandled") {
		t.Errorf("unhandled writes reported as %v", f.tb.errs)
	}
	// Writes to a missing driver: no such attribute.
	if err := f.k.UnloadDriver("pciback"); err != nil {
		t.Fatal(err)
	}
	f.w("bus/pci/drivers/pciback/new_slot", bdf, syscall.ENOENT)
	// A removed device is gone for every write.
	if err := f.k.Remove(dev.BDF); err != nil {
		t.Fatal(err)
	}
	f.w("bus/pci/drivers/e1000e/bind", bdf, syscall.ENODEV)
	f.w("bus/pci/drivers_probe", bdf, syscall.ENODEV)
	if _, err := pcibind.New(f.tree.Root).CurrentDriver(xl.PciBdf(dev.BDF)); !errors.Is(err, pcibind.ErrDeviceGone) {
		t.Errorf("CurrentDriver of a removed device: %v", err)
	}
}
