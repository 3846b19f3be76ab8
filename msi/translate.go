package msi

import "fmt"

// Device models, as xl.cfg's device_model_version names them.
const (
	QemuXen            = "qemu-xen"
	QemuXenTraditional = "qemu-xen-traditional"
)

// Where msitranslate's value came from (Translation.From).
const (
	FromGlobal = "global" // xl.cfg's pci_msitranslate, or its default 0
	FromEntry  = "entry"  // the pci entry's own msitranslate=
)

// TranslateInput is what decides msitranslate for one device.
type TranslateInput struct {
	// Global is xl.cfg's pci_msitranslate (default 0).
	Global bool
	// Device is the spec's msitranslate= (nil: not given, the global
	// value applies, as xl copies it into every pci entry).
	Device *bool
	// HVM is false for a PV guest.
	HVM bool
	// DeviceModel is device_model_version; "" is libxl's default,
	// qemu-xen. A stub domain always runs qemu-xen-traditional in 4.17.
	DeviceModel string
	// Caps are the device's capabilities; IsVF marks an SR-IOV virtual
	// function (it has a physfn link).
	Caps Caps
	IsVF bool
}

// Translation is the verdict.
type Translation struct {
	// Requested is the value libxl receives (libxl_device_pci.msitranslate)
	// and records in xenstore's opts-N; From says where it came from in
	// one word (FromGlobal, FromEntry), FromText in words.
	Requested bool   `json:"requested"`
	From      string `json:"from"`
	FromText  string `json:"from_text"`
	// Effective: the host really drives the device with MSI while the
	// guest sees INTx.
	Effective bool `json:"effective"`
	// Reason explains Effective.
	Reason string `json:"reason"`
	// Warnings are settings that will not do what they say; Problems are
	// devices that cannot work (a VF without MSI or MSI-X).
	Warnings []string `json:"warnings,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// Resolve decides what msitranslate does for a device, following libxl
// 4.17:
//   - xl copies pci_msitranslate into every pci entry and a spec's own
//     msitranslate= overrides it (xl_parse.c);
//   - libxl passes it to the device model only for qemu-xen-traditional
//     (the pci-ins parameter "msitranslate=%d,power_mgmt=%d",
//     libxl_pci.c); qemu-xen's xen-pci-passthrough device takes only
//     hostaddr and permissive, so there the value is recorded and ignored;
//   - PV guests get MSI through pcifront/pciback and never translate;
//   - translation turns MSI on behind the guest's INTx, so the device needs
//     an MSI capability (MSI-X alone does not do);
//   - an SR-IOV VF has no INTx pin, so without MSI or MSI-X it cannot
//     interrupt at all.
func Resolve(in TranslateInput) Translation {
	t := Translation{Requested: in.Global, From: FromGlobal, FromText: "pci_msitranslate (global, default 0)"}
	if in.Device != nil {
		t.Requested, t.From, t.FromText = *in.Device, FromEntry, "msitranslate= of the pci entry"
	}
	dm := in.DeviceModel
	if dm == "" {
		dm = QemuXen
	}
	if in.IsVF && !in.Caps.Any() {
		t.Problems = append(t.Problems, "SR-IOV virtual function without MSI or MSI-X: VFs have no INTx, so it cannot raise interrupts in any guest")
	}
	switch {
	case !in.HVM:
		t.Reason = "PV guest: MSI and MSI-X go through pcifront/pciback; msitranslate is only recorded in xenstore"
		if t.Requested {
			t.Warnings = append(t.Warnings, "msitranslate=1 has no effect on a PV guest")
		}
	case dm == QemuXen:
		t.Reason = "qemu-xen: libxl records msitranslate in xenstore (opts-N) but does not pass it to QEMU's xen-pci-passthrough, which has no such option; the guest's own INTx/MSI choice is used"
		if t.Requested {
			t.Warnings = append(t.Warnings, "msitranslate=1 has no effect with device_model_version=\"qemu-xen\" (only qemu-xen-traditional honours it)")
		}
	case dm == QemuXenTraditional:
		switch {
		case !t.Requested:
			t.Reason = "qemu-xen-traditional with msitranslate=0: the host uses what the guest programs (INTx or MSI)"
		case in.Caps.MSI == nil:
			t.Reason = "qemu-xen-traditional would translate, but the device has no MSI capability"
			if in.Caps.MSIX != nil {
				t.Reason += " (MSI-X only, which translation does not use)"
			}
			t.Reason += ": it stays on INTx"
			t.Warnings = append(t.Warnings, "msitranslate=1 cannot take effect: the device has no MSI capability")
		default:
			t.Effective = true
			t.Reason = "qemu-xen-traditional: the host enables MSI on the device even while the guest uses INTx (some drivers, e.g. NVIDIA's, break on this)"
		}
	default:
		t.Reason = fmt.Sprintf("unknown device model %q", in.DeviceModel)
		t.Warnings = append(t.Warnings, t.Reason)
	}
	return t
}
