package xenlight

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/xlpt/xlpt/xl"
)

// privcmdNodes are the hypercall device nodes libxencall tries, in its order.
var privcmdNodes = []string{"/dev/xen/privcmd", "/proc/xen/privcmd"}

// hostProbe checks, before libxl_ctx_alloc, that this is a dom0 we may use.
// libxl only says "cannot open libxc handle: No such file or directory";
// the probe names the cause. root and open are parameters for tests.
type hostProbe struct {
	root string                  // prefix for the paths, "" on a real host
	open func(path string) error // opens read-write and closes again
}

func openRW(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func (p hostProbe) path(node string) string { return filepath.Join(p.root, node) }

func (p hostProbe) check() error {
	open := p.open
	if open == nil {
		open = openRW
	}
	found := false
	for _, node := range privcmdNodes {
		err := open(p.path(node))
		switch {
		case err == nil:
			found = true
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("%w: %s: %w (run xlpt as root in dom0)", xl.ErrNoHypervisor, node, fs.ErrPermission)
		default:
			cause := err
			var pe *fs.PathError
			if errors.As(err, &pe) {
				cause = pe.Err // the path is named already
			}
			return fmt.Errorf("%w: opening %s: %w", xl.ErrNoHypervisor, node, cause)
		}
		break
	}
	if !found {
		return fmt.Errorf("%w: %s not found (this is not a Xen dom0)", xl.ErrNoHypervisor, privcmdNodes[0])
	}
	// A domU has privcmd too; xenfs tells the two apart. Without xenfs
	// mounted we cannot tell, and leave it to libxl.
	const caps = "/proc/xen/capabilities"
	if b, err := os.ReadFile(p.path(caps)); err == nil && !bytes.Contains(b, []byte("control_d")) {
		return fmt.Errorf("%w: this is a Xen guest, not dom0 (%s has no control_d)", xl.ErrNoHypervisor, caps)
	}
	return nil
}
