package xenlight

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// fakeOpen answers open by the node's path below root.
func fakeOpen(root string, res map[string]error) func(string) error {
	return func(p string) error {
		rel := "/" + strings.TrimPrefix(p, root+"/")
		if err, ok := res[rel]; ok {
			if err != nil {
				return &fs.PathError{Op: "open", Path: p, Err: err}
			}
			return nil
		}
		return &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
	}
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes map[string]error
		caps  string // contents of /proc/xen/capabilities; "-" for absent
		want  string // "" for success
	}{
		{"no xen", nil, "-",
			"no Xen hypervisor: /dev/xen/privcmd not found (this is not a Xen dom0)"},
		{"not root", map[string]error{"/dev/xen/privcmd": syscall.EACCES}, "-",
			"no Xen hypervisor: /dev/xen/privcmd: permission denied (run xlpt as root in dom0)"},
		{"old kernel, not root", map[string]error{"/proc/xen/privcmd": syscall.EACCES}, "-",
			"no Xen hypervisor: /proc/xen/privcmd: permission denied (run xlpt as root in dom0)"},
		{"odd errno", map[string]error{"/dev/xen/privcmd": syscall.ENXIO}, "-",
			"no Xen hypervisor: opening /dev/xen/privcmd: no such device or address"},
		{"domU", map[string]error{"/dev/xen/privcmd": nil}, "",
			"no Xen hypervisor: this is a Xen guest, not dom0 (/proc/xen/capabilities has no control_d)"},
		{"dom0", map[string]error{"/dev/xen/privcmd": nil}, "control_d\n", ""},
		{"dom0 without xenfs", map[string]error{"/dev/xen/privcmd": nil}, "-", ""},
		{"dom0, old kernel", map[string]error{"/proc/xen/privcmd": nil}, "control_d\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.caps != "-" {
				if err := os.MkdirAll(filepath.Join(root, "proc/xen"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "proc/xen/capabilities"), []byte(tc.caps), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := hostProbe{root: root, open: fakeOpen(root, tc.nodes)}.check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", err, tc.want)
			}
			if !errors.Is(err, xl.ErrNoHypervisor) {
				t.Errorf("%v does not match ErrNoHypervisor", err)
			}
		})
	}
}

func TestProbePermissionIsErrPermission(t *testing.T) {
	root := t.TempDir()
	err := hostProbe{root: root, open: fakeOpen(root, map[string]error{"/dev/xen/privcmd": syscall.EACCES})}.check()
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v does not match fs.ErrPermission", err)
	}
}

func TestProbeRealFiles(t *testing.T) {
	// The default opener on a real tree: a regular file stands in for the
	// device node.
	root := t.TempDir()
	if err := (hostProbe{root: root}).check(); !errors.Is(err, xl.ErrNoHypervisor) {
		t.Fatalf("empty root: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev/xen"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/xen/privcmd"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (hostProbe{root: root}).check(); err != nil {
		t.Fatalf("privcmd present: %v", err)
	}
}
