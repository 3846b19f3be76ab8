package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strconv"
	"sync"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/xl"
)

// check --json's device list is written by hand, streamed through one
// buffer: a full scan's report is megabytes, and encoding/json's
// reflection, its check of what MarshalJSON returns and MarshalIndent's
// second pass cost more than the scan's reads (and a whole report in
// memory costs its page faults). The bytes are encoding/json's: the
// tests compare the two on every field of hotplug.DeviceReport.

// writeCheckJSON writes doc as json.MarshalIndent(doc, "", "  ") and a
// newline would, byte for byte, with devs in its "devices" member: doc
// holds the report with no devices (an empty list), and the devices are
// written by appendDevice.
func writeCheckJSON(w io.Writer, doc any, devs []hotplug.DeviceReport) error {
	head, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	const empty = `"devices": []`
	at := bytes.LastIndex(head, []byte(empty))
	if at < 0 {
		return errors.New("check's report has no empty devices list to fill")
	}
	// bufio keeps the first write error and Flush returns it.
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(devs) == 0 {
		bw.Write(head)
	} else {
		bw.Write(head[:at+len(empty)-1])
		bw.WriteString("\n")
		writeDevices(bw, devs)
		bw.WriteString("  ]")
		bw.Write(head[at+len(empty):])
	}
	bw.WriteString("\n")
	return bw.Flush()
}

// renderChunk is how many devices one renderer lays out at a time: a
// few tens of KB, so the buffers are reused rather than a whole
// megabytes-long report held (and page-faulted) in memory.
const renderChunk = 64

// writeDevices writes the devices' array members, rendered in
// parallel: on a full scan the rendering was a serial 4 ms or so after
// the (parallel) rules. Each round renders one chunk per CPU, each into
// its own reused buffer, then writes them in order.
func writeDevices(w io.Writer, devs []hotplug.DeviceReport) {
	workers := runtime.GOMAXPROCS(0)
	bufs := make([][]byte, workers)
	for lo := 0; lo < len(devs); lo += workers * renderChunk {
		var wg sync.WaitGroup
		for k := range bufs {
			from := lo + k*renderChunk
			if from >= len(devs) {
				bufs[k] = bufs[k][:0]
				continue
			}
			wg.Add(1)
			go func(k, from int) {
				defer wg.Done()
				bufs[k] = appendDevices(bufs[k][:0], devs, from, min(from+renderChunk, len(devs)))
			}(k, from)
		}
		wg.Wait()
		for _, b := range bufs {
			w.Write(b)
		}
	}
}

// appendDevices appends devs[from:to] as array members: indented,
// one a line, a comma after all but the report's last.
func appendDevices(b []byte, devs []hotplug.DeviceReport, from, to int) []byte {
	for i := from; i < to; i++ {
		b = append(b, "    "...)
		b = appendDevice(b, &devs[i])
		if i < len(devs)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return b
}

// appendDevice appends json.MarshalIndent(d, "    ", "  ").
func appendDevice(b []byte, d *hotplug.DeviceReport) []byte {
	if !d.Present && d.SysfsName() == "" {
		// A named device that is not there: rare, through encoding/json.
		m, _ := json.MarshalIndent(d, "    ", "  ")
		return append(b, m...)
	}
	o := jsonObject{b: b, indent: "      "}
	if d.SysfsName() != "" {
		o.str("bdf", d.SysfsName())
	} else {
		o.bdf("bdf", d.BDF)
	}
	o.bool("present", d.Present)
	o.strOmit("vendor", d.Vendor)
	o.strOmit("device", d.Device)
	o.strOmit("class", d.Class)
	o.strOmit("name", d.Name)
	o.str("driver", d.Driver)
	o.str("owner", d.Owner)
	o.str("owner_text", d.OwnerText)
	o.strOmit("original_driver", d.OriginalDriver)
	o.strOrNull("bus", string(d.Bus))
	o.strOmit("port_type", d.PortType)
	o.strOmit("bridge", d.Bridge)
	if len(d.Group) > 0 {
		o.bdfs("group", d.Group)
	}
	if d.GroupBridge != nil {
		o.bdf("group_bridge", *d.GroupBridge)
	}
	o.strs("reset_methods", d.ResetMethods)
	o.bool("flr", d.FLR)
	o.bool("msi", d.MSI)
	o.bool("msix", d.MSIX)
	if d.SRIOV != nil {
		o.key("sriov")
		o.b = appendSRIOVRole(o.b, d.SRIOV)
	}
	if d.NUMANode < 0 {
		o.null("numa_node")
	} else {
		o.int("numa_node", int(d.NUMANode))
	}
	if len(d.Unread) > 0 {
		o.strs("unread", d.Unread)
	}
	if d.OpenOperation != nil {
		o.key("open_operation")
		m, _ := json.MarshalIndent(d.OpenOperation, o.indent, "  ")
		o.b = append(o.b, m...)
	}
	o.str("verdict", d.Verdict)
	o.str("message", d.Message)
	o.strs("reasons", d.Reasons)
	return o.end()
}

// appendSRIOVRole appends a device's "sriov" object, one level deeper.
func appendSRIOVRole(b []byte, s *hotplug.SRIOVRole) []byte {
	o := jsonObject{b: b, indent: "        "}
	o.str("role", s.Role)
	if s.Total != 0 {
		o.int("total_vfs", s.Total)
	}
	if s.Num != 0 {
		o.int("num_vfs", s.Num)
	}
	if s.PF != nil {
		o.bdf("pf", *s.PF)
	}
	return o.end()
}

// jsonObject appends an object's members as MarshalIndent lays them
// out: one a line at indent, the closing brace one level (two spaces)
// less, "{}" when there are none. Keys are written as given: they must
// need no escaping.
type jsonObject struct {
	b      []byte
	indent string
	n      int
}

func (o *jsonObject) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '\n')
	o.b = append(o.b, o.indent...)
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, `": `...)
}

func (o *jsonObject) end() []byte {
	if o.n == 0 {
		return append(o.b, "{}"...)
	}
	o.b = append(o.b, '\n')
	o.b = append(o.b, o.indent[:len(o.indent)-2]...)
	return append(o.b, '}')
}

func (o *jsonObject) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

// strOrNull is str, or null for "".
func (o *jsonObject) strOrNull(k, v string) {
	if v == "" {
		o.null(k)
		return
	}
	o.str(k, v)
}

func (o *jsonObject) null(k string) {
	o.key(k)
	o.b = append(o.b, "null"...)
}

// strOmit is str for a field tagged omitempty.
func (o *jsonObject) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *jsonObject) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *jsonObject) int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}

func (o *jsonObject) bdf(k string, v xl.PciBdf) {
	o.key(k)
	o.b = appendJSONBdf(o.b, v)
}

func (o *jsonObject) strs(k string, vs []string) {
	o.key(k)
	o.b = appendJSONArray(o.b, o.indent, len(vs), vs == nil, func(b []byte, i int) []byte {
		return appendJSONString(b, vs[i])
	})
}

func (o *jsonObject) bdfs(k string, vs []xl.PciBdf) {
	o.key(k)
	o.b = appendJSONArray(o.b, o.indent, len(vs), vs == nil, func(b []byte, i int) []byte {
		return appendJSONBdf(b, vs[i])
	})
}

// appendJSONArray appends an array of n items as MarshalIndent does for
// a member at indent: null for a nil slice, [] for an empty one, else
// an item a line, two spaces deeper.
func appendJSONArray(b []byte, indent string, n int, isNil bool, item func([]byte, int) []byte) []byte {
	switch {
	case isNil:
		return append(b, "null"...)
	case n == 0:
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		b = append(b, indent...)
		b = append(b, "  "...)
		b = item(b, i)
	}
	b = append(b, '\n')
	b = append(b, indent...)
	return append(b, ']')
}

// appendJSONBdf appends a BDF as its MarshalText in quotes (no byte of
// it needs escaping).
func appendJSONBdf(b []byte, v xl.PciBdf) []byte {
	b = append(b, '"')
	b, _ = v.AppendText(b)
	return append(b, '"')
}

// appendJSONString appends s quoted. Printable ASCII that encoding/json
// leaves alone is copied; anything else (control characters, quotes,
// backslashes, <, > and & which it escapes for HTML, non-ASCII with its
// invalid-UTF-8 and U+2028/9 rules) goes through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain holds the bytes encoding/json copies as they are: a table,
// as a megabyte of strings goes through appendJSONString.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
