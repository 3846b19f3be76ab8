// Package qmp talks to a guest's QEMU device model over the QMP socket
// libxl gives it (/var/run/xen/qmp-libxl-DOMID). It does one job that
// libxl 4.17 leaves undone: after a failed HVM pci-attach, libxl leaves
// the xen-pci-passthrough device in QEMU, and every retry then fails with
// "Duplicate device ID 'pci-pt-BB_DD.F'". Written by hand: it needs three
// QMP commands, not a QMP library.
package qmp

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/xl"
)

// DeviceModel reaches the device models of local domains.
type DeviceModel struct {
	// RunDir is libxl's run directory (default /var/run/xen).
	RunDir string
	// Timeout bounds the whole clean-up (default 10 s, libxl's own
	// LIBXL_QMP_CMD_TIMEOUT for a device_del).
	Timeout time.Duration
	// Log takes the clean-up's time at debug level (nil: logrus's
	// standard logger).
	Log logrus.FieldLogger
}

// QdevID is the id libxl gives a passed-through device in QEMU.
func QdevID(b xl.PciBdf) string {
	return fmt.Sprintf("pci-pt-%02x_%02x.%01x", b.Bus, b.Dev, b.Func)
}

// RemoveStale removes the passthrough device for b from domid's QEMU if
// it is there. No device model (a PV guest) or no such device is fine.
func (m DeviceModel) RemoveStale(domid uint32, b xl.PciBdf) error {
	log := m.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	defer timing.Log(log, "qmp remove stale", time.Now())
	c, timeout, err := m.open(domid)
	if c == nil || err != nil {
		return err
	}
	defer c.Close()
	id := QdevID(b)
	present, err := c.hasDevice(id)
	if err != nil || !present {
		return err
	}
	if _, err := c.command("device_del", map[string]string{"id": id}); err != nil {
		return fmt.Errorf("device_del %s: %w", id, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if present, err = c.hasDevice(id); err != nil || !present {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("QEMU still has %s after %v: the guest did not acknowledge its removal", id, timeout)
}

// Devices lists the host devices passed through to domid's QEMU, from
// the ids libxl gives them (pci-pt-BB_DD.F; segment 0, as libxl's ids
// carry none). No device model (a PV guest) lists none.
func (m DeviceModel) Devices(domid uint32) ([]xl.PciBdf, error) {
	c, _, err := m.open(domid)
	if c == nil || err != nil {
		return nil, err
	}
	defer c.Close()
	ret, err := c.command("query-pci", nil)
	if err != nil {
		return nil, fmt.Errorf("query-pci: %w", err)
	}
	var v any
	if err := json.Unmarshal(ret, &v); err != nil {
		return nil, err
	}
	var out []xl.PciBdf
	for _, id := range qdevIDs(v, nil) {
		if b, ok := ParseQdevID(id); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// ParseQdevID reads an id libxl gives a passed-through device,
// pci-pt-BB_DD.F exactly as QdevID writes it; the segment, which the id
// does not carry, is 0 (the caller places it: hotplug reads it as the
// device libxl or its record puts in that guest).
func ParseQdevID(id string) (xl.PciBdf, bool) {
	var b xl.PciBdf
	if len(id) != len("pci-pt-00_00.0") {
		return b, false
	}
	if _, err := fmt.Sscanf(id, "pci-pt-%02x_%02x.%01x", &b.Bus, &b.Dev, &b.Func); err != nil || b.Dev > 0x1f || b.Func > 7 || QdevID(b) != id {
		return xl.PciBdf{}, false
	}
	return b, true
}

func qdevIDs(v any, acc []string) []string {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["qdev_id"].(string); ok {
			acc = append(acc, s)
		}
		for _, e := range x {
			acc = qdevIDs(e, acc)
		}
	case []any:
		for _, e := range x {
			acc = qdevIDs(e, acc)
		}
	}
	return acc
}

// open connects to domid's QMP socket; no socket (no device model) is a
// nil conn and no error.
func (m DeviceModel) open(domid uint32) (*conn, time.Duration, error) {
	dir := m.RunDir
	if dir == "" {
		dir = "/var/run/xen"
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	path := filepath.Join(dir, fmt.Sprintf("qmp-libxl-%d", domid))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, timeout, nil
	}
	c, err := dial(path, timeout)
	return c, timeout, err
}

type conn struct {
	nc net.Conn
	rd *bufio.Reader
}

func dial(path string, timeout time.Duration) (*conn, error) {
	nc, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to QMP %s: %w", path, err)
	}
	_ = nc.SetDeadline(time.Now().Add(2 * timeout))
	c := &conn{nc: nc, rd: bufio.NewReader(nc)}
	if _, err := c.read(); err != nil { // the greeting
		nc.Close()
		return nil, fmt.Errorf("QMP greeting on %s: %w", path, err)
	}
	if _, err := c.command("qmp_capabilities", nil); err != nil {
		nc.Close()
		return nil, fmt.Errorf("QMP capabilities on %s: %w", path, err)
	}
	return c, nil
}

func (c *conn) Close() error { return c.nc.Close() }

type message struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
	QMP   any    `json:"QMP"`
}

// MaxLine bounds one QMP message: query-pci of a guest with every slot
// taken is some tens of kilobytes.
const MaxLine = 4 << 20

// ErrLineTooLong refuses a QMP message longer than MaxLine.
var ErrLineTooLong = errors.New("QMP message too long")

func (c *conn) read() (message, error) {
	line, err := readLine(c.rd, MaxLine)
	if err != nil {
		return message{}, err
	}
	return parseMessage(line)
}

// readLine reads one line of at most max bytes (without its newline).
func readLine(rd *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max+1 {
			return nil, fmt.Errorf("%w: over %d bytes without a newline", ErrLineTooLong, max)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// parseMessage reads one QMP message (a reply, an event, the greeting).
func parseMessage(line []byte) (message, error) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("QMP message: %w", err)
	}
	return m, nil
}

func (c *conn) command(name string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": name}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := c.nc.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, err
		}
		switch {
		case m.Event != "":
			continue // asynchronous events are not answers
		case m.Error != nil:
			return nil, fmt.Errorf("%s: %s", m.Error.Class, m.Error.Desc)
		}
		return m.Return, nil
	}
}

// hasDevice looks for a qdev id in query-pci's answer (bus 0 and bridges).
func (c *conn) hasDevice(id string) (bool, error) {
	ret, err := c.command("query-pci", nil)
	if err != nil {
		return false, fmt.Errorf("query-pci: %w", err)
	}
	var v any
	if err := json.Unmarshal(ret, &v); err != nil {
		return false, err
	}
	return findQdev(v, id), nil
}

func findQdev(v any, id string) bool {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["qdev_id"].(string); ok && s == id {
			return true
		}
		for _, e := range x {
			if findQdev(e, id) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if findQdev(e, id) {
				return true
			}
		}
	}
	return false
}
