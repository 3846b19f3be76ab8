package testbed

import "testing"

// The scenarios' hook validates a --json document by the command that
// printed it, and lets other output be.
func TestCheckJSONHook(t *testing.T) {
	if err := CheckJSON("xlpt pci-list --json hvm1", `{"schema":"xlpt/1","warnings":[],"notes":[],"domain":"hvm1","domid":1,"devices":[]}`); err != nil {
		t.Error(err)
	}
	bad := `{"schema":"xlpt/1","warnings":[],"notes":[],"pfs":[{"bdf":"0000:00:09.0","id":"1b36:0010","driver":"nvme","total_vfs":2,` +
		`"enabled_vfs":0,"vf_offset":0,"vf_stride":1,"drivers_autoprobe":true,"vfs":[]}]}`
	if err := CheckJSON("xlpt --log-level error sriov list --json", bad); err == nil {
		t.Error("vf_offset 0 (unknown) accepted: the hook checks nothing")
	}
	if err := CheckJSON("xlpt check 00:03.0", "0000:00:03.0  Ethernet controller ...\n"); err != nil {
		t.Errorf("text output: %v", err)
	}
}
