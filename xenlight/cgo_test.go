//go:build linux && cgo && !xlpt_release

package xenlight

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/xlpt/xlpt/xl"
)

func TestErrorCodesMatchLibxl(t *testing.T) {
	c := cConstants()
	known := 0
	for code := -1; code >= -64; code-- {
		e := xl.Error(code)
		name := e.Name()
		if strings.HasPrefix(name, "ERROR_UNKNOWN(") {
			continue
		}
		known++
		v, ok := c[name]
		if !ok {
			t.Errorf("%s: no such C constant", name)
			continue
		}
		if v != code {
			t.Errorf("%s: Go %d, C %d", name, code, v)
		}
	}
	// And libxl's own table, so a code we lack would show up.
	table := libxlErrorTable()
	if len(table) != known {
		t.Errorf("libxl knows %d codes, we know %d", len(table), known)
	}
	for v, s := range table {
		if got, want := xl.Error(v).Name(), "ERROR_"+strings.ToUpper(s); got != want {
			t.Errorf("code %d: Go name %s, libxl name %s", v, got, want)
		}
	}
}

func TestEnumsMatchC(t *testing.T) {
	c := cConstants()
	for name, goVal := range map[string]int{
		"XTL_NONE": int(xtlNone), "XTL_DEBUG": int(xtlDebug), "XTL_VERBOSE": int(xtlVerbose),
		"XTL_DETAIL": int(xtlDetail), "XTL_PROGRESS": int(xtlProgress), "XTL_INFO": int(xtlInfo),
		"XTL_NOTICE": int(xtlNotice), "XTL_WARN": int(xtlWarn), "XTL_ERROR": int(xtlError),
		"XTL_CRITICAL": int(xtlCritical),

		"LIBXL_RDM_RESERVE_POLICY_INVALID":  int(xl.RdmPolicyInvalid),
		"LIBXL_RDM_RESERVE_POLICY_STRICT":   int(xl.RdmPolicyStrict),
		"LIBXL_RDM_RESERVE_POLICY_RELAXED":  int(xl.RdmPolicyRelaxed),
		"LIBXL_RDM_RESERVE_STRATEGY_IGNORE": int(xl.RdmStrategyIgnore),
		"LIBXL_RDM_RESERVE_STRATEGY_HOST":   int(xl.RdmStrategyHost),
		"LIBXL_PCI_FUNC_ALL":                int(xl.FuncAll),

		"LIBXL_DOMAIN_TYPE_INVALID": int(xl.DomainTypeInvalid),
		"LIBXL_DOMAIN_TYPE_HVM":     int(xl.DomainTypeHVM),
		"LIBXL_DOMAIN_TYPE_PV":      int(xl.DomainTypePV),
		"LIBXL_DOMAIN_TYPE_PVH":     int(xl.DomainTypePVH),

		"LIBXL_PASSTHROUGH_DEFAULT":  int(xl.PassthroughDefault),
		"LIBXL_PASSTHROUGH_DISABLED": int(xl.PassthroughDisabled),
		"LIBXL_PASSTHROUGH_ENABLED":  int(xl.PassthroughEnabled),
		"LIBXL_PASSTHROUGH_SYNC_PT":  int(xl.PassthroughSyncPT),
		"LIBXL_PASSTHROUGH_SHARE_PT": int(xl.PassthroughSharePT),

		"LIBXL_DEVICE_MODEL_VERSION_UNKNOWN":              int(xl.DeviceModelUnknown),
		"LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL": int(xl.DeviceModelQemuTraditional),
		"LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN":             int(xl.DeviceModelQemuXen),

		"LIBXL_SHUTDOWN_REASON_UNKNOWN":    int(xl.ShutdownUnknown),
		"LIBXL_SHUTDOWN_REASON_POWEROFF":   int(xl.ShutdownPoweroff),
		"LIBXL_SHUTDOWN_REASON_REBOOT":     int(xl.ShutdownReboot),
		"LIBXL_SHUTDOWN_REASON_SUSPEND":    int(xl.ShutdownSuspend),
		"LIBXL_SHUTDOWN_REASON_CRASH":      int(xl.ShutdownCrash),
		"LIBXL_SHUTDOWN_REASON_WATCHDOG":   int(xl.ShutdownWatchdog),
		"LIBXL_SHUTDOWN_REASON_SOFT_RESET": int(xl.ShutdownSoftReset),
	} {
		v, ok := c[name]
		if !ok {
			t.Errorf("%s: not exported by testhooks.go", name)
		} else if v != goVal {
			t.Errorf("%s: Go %d, C %d", name, goVal, v)
		}
	}
}

func TestDevicePciInitDefaults(t *testing.T) {
	if got, want := devicePciInitDefaults(), xl.NewDevicePci(); got != want {
		t.Errorf("libxl_device_pci_init gives %+v, NewDevicePci %+v", got, want)
	}
}

var devicePciCases = map[string]xl.DevicePci{
	"defaults": xl.NewDevicePci(),
	"zero":     {},
	"bdf with vslot": {PciBdf: xl.PciBdf{Domain: 0, Bus: 3, Dev: 0, Func: 1}, Vdevfn: xl.Vdevfn(5, 0),
		VfuncMask: 1, RdmPolicy: xl.RdmPolicyInvalid},
	"every flag, relaxed": {PciBdf: xl.PciBdf{Domain: 0xffff, Bus: 0xff, Dev: 0x1f, Func: 7}, Vdevfn: xl.Vdevfn(0x1f, 7),
		VfuncMask: 1, Msitranslate: true, PowerMgmt: true, Permissive: true, Seize: true, RdmPolicy: xl.RdmPolicyRelaxed},
	"strict":          {PciBdf: xl.PciBdf{Bus: 1}, RdmPolicy: xl.RdmPolicyStrict},
	"all functions":   {PciBdf: xl.PciBdf{Bus: 2}, Vdevfn: xl.Vdevfn(7, 0), VfuncMask: xl.FuncAll, RdmPolicy: xl.RdmPolicyInvalid},
	"name":            {PciBdf: xl.PciBdf{Bus: 4}, Name: "nic0", RdmPolicy: xl.RdmPolicyInvalid},
	"name only":       {Name: "gpu-audio", RdmPolicy: xl.RdmPolicyInvalid},
	"name, odd bytes": {Name: "n%s\x7f\xc3\xa9", RdmPolicy: xl.RdmPolicyRelaxed},
}

func TestDevicePciRoundTrip(t *testing.T) {
	for name, d := range devicePciCases {
		if got := devicePciCopyViaLibxl(nil, d); got != d {
			t.Errorf("%s: through libxl_device_pci_copy\n got  %+v\n want %+v", name, got, d)
		}
	}
}

func TestDevicePciToCReplacesName(t *testing.T) {
	a := xl.DevicePci{Name: "first", RdmPolicy: xl.RdmPolicyStrict}
	b := xl.DevicePci{PciBdf: xl.PciBdf{Bus: 9}, RdmPolicy: xl.RdmPolicyRelaxed}
	if got := devicePciToCTwice(a, b); got != b {
		t.Errorf("second toC without name: %+v", got)
	}
	b.Name = "second"
	if got := devicePciToCTwice(a, b); got != b {
		t.Errorf("second toC with name: %+v", got)
	}
}

func TestDevicePciList(t *testing.T) {
	var ds []xl.DevicePci
	for _, d := range devicePciCases {
		ds = append(ds, d)
	}
	got := devicePciListViaC(append([]xl.DevicePci(nil), ds...))
	if !reflect.DeepEqual(got, ds) {
		t.Errorf("list round trip:\n got  %+v\n want %+v", got, ds)
	}
	if got := devicePciListViaC(nil); got == nil || len(got) != 0 {
		t.Errorf("empty list: %#v, want empty non-nil", got)
	}
}

func TestCLoggerBridge(t *testing.T) {
	l, hook := test.NewNullLogger()
	l.SetLevel(logrus.TraceLevel)
	sink := newLogSink(l)
	cl, err := newCLogger(sink)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.free()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := sink.open(syscall.Gettid(), false)
	other := sink.open(syscall.Gettid()+1_000_000, false) // a plain call on another thread
	cl.log(xtlDebug, -1, "libxl", "debug %s %d stays literal")
	cl.log(xtlInfo, -1, "libxl", "info")
	cl.log(xtlWarn, -1, "libxl", "warn")
	cl.log(xtlError, 19, "libxl", "libxl_pci.c:1:do_pci_add: Domain 3:boom")
	captured := sink.close(w)
	if got := sink.close(other); got != nil {
		t.Errorf("another thread's call captured %q: the bridge must name the thread that logged", got)
	}

	es := hook.AllEntries()
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4", len(es))
	}
	for i, want := range []struct {
		lvl logrus.Level
		msg string
	}{
		{logrus.TraceLevel, "debug %s %d stays literal"},
		{logrus.InfoLevel, "info"},
		{logrus.InfoLevel, "warn"},
		{logrus.WarnLevel, "libxl_pci.c:1:do_pci_add: Domain 3:boom: no such device"},
	} {
		if es[i].Level != want.lvl || es[i].Message != want.msg || es[i].Data["source"] != "libxl" {
			t.Errorf("entry %d: %v %q %v", i, es[i].Level, es[i].Message, es[i].Data)
		}
	}
	if len(captured) != 1 || captured[0] != "libxl: boom: no such device" {
		t.Errorf("captured %q", captured)
	}
}

func TestOpenWithoutXen(t *testing.T) {
	c, err := Open(WithLogger(quietLogger()))
	if err == nil {
		c.Close()
		t.Skip("this machine is a Xen dom0")
	}
	if !errors.Is(err, xl.ErrNoHypervisor) {
		t.Fatalf("Open: %v, want ErrNoHypervisor", err)
	}
	if c != nil {
		t.Errorf("Open returned a Context with an error")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "no Xen hypervisor: ") {
		t.Errorf("message %q", msg)
	}
	t.Logf("Open: %v", err)
}

// TestOpenReachesLibxl skips the dom0 probe so that libxl_ctx_alloc itself
// fails, with its message carried in the error.
func TestOpenReachesLibxl(t *testing.T) {
	if (hostProbe{}).check() == nil {
		t.Skip("this machine is a Xen dom0")
	}
	l, hook := test.NewNullLogger()
	c, err := Open(WithLogger(l), func(o *options) { o.skipProbe = true })
	if err == nil {
		c.Close()
		t.Fatal("libxl_ctx_alloc succeeded without Xen")
	}
	var ce *xl.CallError
	if !errors.As(err, &ce) || ce.Func != "libxl_ctx_alloc" || !errors.Is(err, xl.ErrFail) {
		t.Fatalf("Open: %v, want a libxl_ctx_alloc CallError", err)
	}
	if log := strings.Join(ce.Log, "\n"); !strings.Contains(log, "libxl: cannot open libxc handle") {
		t.Errorf("libxl's message was not captured: %q", ce.Log)
	}
	if len(hook.AllEntries()) == 0 {
		t.Errorf("libxl's messages did not reach logrus")
	}
	t.Logf("Open: %v", err)
}

func TestClosedContext(t *testing.T) {
	for name, c := range map[string]*Context{"nil": nil, "zero": {}} {
		if err := c.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("%s: second Close: %v", name, err)
		}
		d := xl.NewDevicePci()
		for call, f := range map[string]func() error{
			"DomainQualifierToID":  func() error { _, err := c.DomainQualifierToID("web01"); return err },
			"DomainInfo":           func() error { _, err := c.DomainInfo(0); return err },
			"ListDomains":          func() error { _, err := c.ListDomains(); return err },
			"DomainConfig":         func() error { _, err := c.DomainConfig(1); return err },
			"PhysInfo":             func() error { _, err := c.PhysInfo(); return err },
			"PciAdd":               func() error { return c.PciAdd(1, d) },
			"PciRemove":            func() error { return c.PciRemove(1, d) },
			"PciDestroy":           func() error { return c.PciDestroy(1, d) },
			"PciList":              func() error { _, err := c.PciList(1); return err },
			"PciAssignableAdd":     func() error { return c.PciAssignableAdd(d, true) },
			"PciAssignableRemove":  func() error { return c.PciAssignableRemove(d, true) },
			"PciAssignableList":    func() error { _, err := c.PciAssignableList(); return err },
			"ReservedDeviceMemory": func() error { _, err := c.ReservedDeviceMemory(); return err },
			"DeviceReservedMemory": func() error { _, err := c.DeviceReservedMemory(xl.PciBdf{}); return err },
			"PodTarget":            func() error { _, err := c.PodTarget(1); return err },
		} {
			if err := f(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s context: %s: %v, want ErrClosed", name, call, err)
			}
		}
	}
}

func TestDomainQualifierRefusedEarly(t *testing.T) {
	c := &Context{} // closed: anything reaching libxl would say so
	for _, q := range []string{"", "4294967296", "99999999999999999999"} {
		_, err := c.DomainQualifierToID(q)
		if !errors.Is(err, xl.ErrInval) || errors.Is(err, ErrClosed) {
			t.Errorf("%q: %v, want ErrInval before libxl", q, err)
		}
	}
}

func TestDevicePciLabel(t *testing.T) {
	for want, d := range map[string]xl.DevicePci{
		"0000:03:00.1":          {PciBdf: xl.PciBdf{Bus: 3, Func: 1}},
		`"nic0"`:                {Name: "nic0"},
		`0000:03:00.0 ("nic0")`: {PciBdf: xl.PciBdf{Bus: 3}, Name: "nic0"},
		"0000:00:00.0":          {},
	} {
		if got := label(d); got != want {
			t.Errorf("label = %s, want %s", got, want)
		}
	}
}

func quietLogger() *logrus.Logger {
	l, _ := test.NewNullLogger()
	return l
}
