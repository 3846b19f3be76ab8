package xl

import (
	"encoding/json"
	"testing"
)

func TestDomainFlags(t *testing.T) {
	for _, tc := range []struct {
		st     DomainState
		reason ShutdownReason
		flags  string
		str    string
	}{
		{StateRunning, ShutdownUnknown, "r-----", "running"},
		{StateBlocked, ShutdownUnknown, "-b----", "blocked"},
		{0, ShutdownUnknown, "------", "runnable"},
		{StatePaused | StateBlocked, ShutdownUnknown, "-bp---", "blocked,paused"},
		{StateShutdown, ShutdownPoweroff, "---s--", "shutdown"},
		{StateShutdown, ShutdownCrash, "---sc-", "shutdown"},
		{StateShutdown | StateDying, ShutdownReboot, "---s-d", "shutdown,dying"},
	} {
		d := DomainInfo{State: tc.st, ShutdownReason: tc.reason}
		if got := d.Flags(); got != tc.flags {
			t.Errorf("%v/%v: Flags() = %q, want %q", tc.st, tc.reason, got, tc.flags)
		}
		if got := tc.st.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
	}
}

func TestEnumsJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		T DomainType
		S DomainState
		P Passthrough
		V DeviceModelVersion
		R ShutdownReason
	}{DomainTypePVH, StateRunning | StatePaused, PassthroughSharePT, DeviceModelQemuXen, ShutdownSoftReset})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"T":"pvh","S":"running,paused","P":"share_pt","V":"qemu-xen","R":"soft_reset"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestUUIDString(t *testing.T) {
	d := DomainInfo{UUID: [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}}
	if got, want := d.UUIDString(), "12345678-9abc-def0-0123-456789abcdef"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPoD(t *testing.T) {
	for _, tc := range []struct {
		c    DomainConfig
		want bool
	}{
		{DomainConfig{Type: DomainTypeHVM, TargetMemKB: 1 << 20, MaxMemKB: 2 << 20}, true},
		{DomainConfig{Type: DomainTypeHVM, TargetMemKB: 2 << 20, MaxMemKB: 2 << 20}, false},
		{DomainConfig{Type: DomainTypePV, TargetMemKB: 1 << 20, MaxMemKB: 2 << 20}, false},
	} {
		if got := tc.c.PoD(); got != tc.want {
			t.Errorf("%+v: PoD() = %v", tc.c, got)
		}
	}
}

func TestRdmRegion(t *testing.T) {
	r := RdmRegion{StartPFN: 0xad000, NrPages: 0x12}
	if r.Start() != 0xad000000 || r.Size() != 0x12000 || r.End() != 0xad012000 {
		t.Errorf("%#x %#x %#x", r.Start(), r.Size(), r.End())
	}
}
