package pcibind

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/xl"
	"golang.org/x/sys/unix"
)

// Sysfs is one view of a host: a sysfs root, the /proc root for the
// safety checks, the state directory for undo records, and the writer
// through which every change goes (the seam the simulated kernel uses).
type Sysfs struct {
	root     string
	procRoot string
	stateDir string
	pciIDs   string
	workers  int
	w        AttrWriter
}

// Option configures a Sysfs.
type Option func(*Sysfs)

// WithProcRoot sets the /proc root (default "/proc").
func WithProcRoot(dir string) Option { return func(s *Sysfs) { s.procRoot = dir } }

// DefaultStateDir is where a real host's original drivers and lock live.
const DefaultStateDir = "/var/lib/xlpt"

// WithStateDir sets where original drivers are remembered (default
// DefaultStateDir).
func WithStateDir(dir string) Option { return func(s *Sysfs) { s.stateDir = dir } }

// WithPciIDs sets the pci.ids file for names; "" disables names.
func WithPciIDs(path string) Option { return func(s *Sysfs) { s.pciIDs = path } }

// WithWorkers bounds the number of concurrent readers during Scan.
func WithWorkers(n int) Option {
	return func(s *Sysfs) {
		if n > 0 {
			s.workers = n
		}
	}
}

// WithWriter replaces the writer for sysfs attributes (tests pass the
// simulated kernel here).
func WithWriter(w AttrWriter) Option { return func(s *Sysfs) { s.w = w } }

// DefaultPciIDs is Debian's pci.ids.
const DefaultPciIDs = "/usr/share/misc/pci.ids"

// New returns a view of the sysfs tree at root ("" means "/sys").
func New(root string, opts ...Option) *Sysfs {
	if root == "" {
		root = "/sys"
	}
	s := &Sysfs{
		root:     filepath.Clean(root),
		procRoot: "/proc",
		stateDir: DefaultStateDir,
		pciIDs:   DefaultPciIDs,
		// Reads of sysfs are short syscalls: a few more readers than
		// CPUs keep them all busy without thrashing.
		workers: 2 * runtime.GOMAXPROCS(0),
	}
	for _, o := range opts {
		o(s)
	}
	if s.w == nil {
		s.w = FileWriter{}
	}
	return s
}

// Root is the sysfs root.
func (s *Sysfs) Root() string { return s.root }

// ProcRoot is the /proc root.
func (s *Sysfs) ProcRoot() string { return s.procRoot }

// StateDir is where undo records live.
func (s *Sysfs) StateDir() string { return s.stateDir }

// Path joins rel beneath the root; rel cannot climb out of it.
func (s *Sysfs) Path(rel string) string { return filepath.Join(s.root, filepath.Clean("/"+rel)) }

// ReadFile reads one sysfs file beneath the root. Errors are *os.PathError.
func (s *Sysfs) ReadFile(rel string) ([]byte, error) {
	return readFile(s.Path(rel), nil)
}

// Readlink reads one symlink beneath the root. Errors are *os.PathError.
func (s *Sysfs) Readlink(rel string) (string, error) {
	return readlink(s.Path(rel))
}

// readFile reads a whole file beneath nothing (an absolute path).
func readFile(path string, buf []byte) ([]byte, error) {
	return readFileAt(unixAtFdcwd, "", path, buf)
}

func readlink(path string) (string, error) { return readlinkAt(unixAtFdcwd, "", path) }

const unixAtFdcwd = unix.AT_FDCWD

// joinErr names dir/name in errors only when they happen.
func joinErr(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// openAt opens name relative to dirfd, retrying on EINTR.
func openAt(dirfd int, dir, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: joinErr(dir, name), Err: err}
		}
		return fd, nil
	}
}

// readFileAt reads a whole file into buf (grown as needed) with open,
// read and close only: sysfs attributes are produced in one read, and a
// short read of a regular file means end of file, so the usual fstat and
// the extra read that returns 0 are skipped. This halves the syscalls of
// a scan.
func readFileAt(dirfd int, dir, name string, buf []byte) ([]byte, error) {
	fd, err := openAt(dirfd, dir, name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if cap(buf) < 512 {
		buf = make([]byte, 0, ConfigSizeExt+1)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: joinErr(dir, name), Err: err}
		}
		buf = buf[:len(buf)+n]
		if n == 0 || len(buf) < cap(buf) {
			return buf, nil
		}
	}
}

// readlinkAt reads the symlink name relative to dirfd.
func readlinkAt(dirfd int, dir, name string) (string, error) {
	var b [256]byte
	buf := b[:]
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: joinErr(dir, name), Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// existsAt reports whether name exists relative to dirfd.
func existsAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// trim drops the trailing newline sysfs puts after every value.
func trim(b []byte) string { return strings.TrimSpace(string(b)) }

// parseHex reads "0x8086\n" or "8086".
func parseHex(b []byte, bits int) (uint64, error) {
	s := strings.TrimPrefix(trim(b), "0x")
	return strconv.ParseUint(s, 16, bits)
}

// ParseSysfsBdf parses the canonical name sysfs gives a function,
// DDDD:BB:DD.F, and nothing else (no short forms: those are user input,
// handled by xl.ParseBdf).
func ParseSysfsBdf(s string) (xl.PciBdf, error) {
	b, ok := parseSysfsBdf(s)
	if !ok {
		return xl.PciBdf{}, errors.New("not a DDDD:BB:DD.F name: " + strconv.Quote(s))
	}
	return b, nil
}

// parseSysfsBdf is ParseSysfsBdf without the error, for scans that try
// every component of a path.
func parseSysfsBdf(s string) (xl.PciBdf, bool) {
	if len(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.' {
		return xl.PciBdf{}, false
	}
	d, ok1 := hexDigits(s[0:4])
	b, ok2 := hexDigits(s[5:7])
	v, ok3 := hexDigits(s[8:10])
	f, ok4 := hexDigits(s[11:12])
	if !ok1 || !ok2 || !ok3 || !ok4 || v > 0x1f || f > 7 {
		return xl.PciBdf{}, false
	}
	return xl.PciBdf{Domain: uint16(d), Bus: uint8(b), Dev: uint8(v), Func: uint8(f)}, true
}

// hexDigits reads s, all hex digits (strconv.ParseUint base 16 without
// its error values: a scan parses every component of every path).
func hexDigits(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d, ok := hexDigit(s[i])
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, len(s) > 0
}

// hexDigit is c's value as a hex digit.
func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
