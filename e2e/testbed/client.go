// Package testbed drives the xlpt testbed: Xen 4.17 and a Debian dom0
// booted in QEMU by scripts/testbed/run. Boot starts one; Dial connects to
// one already running; Run executes a shell command in dom0 over the
// virtio-serial control channel and returns its output and exit code.
//
// The channel's protocol is line based (see scripts/testbed/dom0/tb-agent):
//
//	host -> dom0  REQ <id> <timeout-secs> <base64 script>
//	              PING <id>
//	dom0 -> host  HELLO <uptime>
//	              RES <id> <exit> x<base64 stdout> x<base64 stderr>
//	              PONG <id>
package testbed

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by Run once the channel is gone (dom0 stopped,
// QEMU exited, or Close was called).
var ErrClosed = errors.New("testbed: control channel closed")

// Result is the outcome of one command run in dom0.
type Result struct {
	Stdout, Stderr string
	Exit           int
}

// Client is one connection to the dom0 agent. Its methods may be called
// from several goroutines; the agent runs commands one at a time.
type Client struct {
	conn net.Conn

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan Result
	err     error         // set once the reader stops
	done    chan struct{} // closed when the reader stops
	hello   chan struct{} // closed at the first HELLO or PONG
	helloed bool
}

// Dial connects to the control socket of a running testbed and waits,
// until ctx ends, for the dom0 agent to answer.
func Dial(ctx context.Context, sock string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("testbed: connect to %s: %w", sock, err)
	}
	c := &Client{
		conn:    conn,
		pending: make(map[uint64]chan Result),
		done:    make(chan struct{}),
		hello:   make(chan struct{}),
	}
	go c.read()
	if err := c.waitAgent(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// waitAgent waits for the agent's HELLO; it pings now and then, for the
// case where the greeting went to an earlier connection.
func (c *Client) waitAgent(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.hello:
			return nil
		case <-c.done:
			return fmt.Errorf("testbed: waiting for the dom0 agent: %w", c.err)
		case <-ctx.Done():
			return fmt.Errorf("testbed: waiting for the dom0 agent: %w", ctx.Err())
		case <-tick.C:
			if err := c.send(fmt.Sprintf("PING %d\n", c.newID())); err != nil {
				return err
			}
		}
	}
}

func (c *Client) newID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return c.nextID
}

func (c *Client) send(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := io.WriteString(c.conn, line); err != nil {
		return fmt.Errorf("testbed: send: %w", err)
	}
	return nil
}

func (c *Client) read() {
	r := bufio.NewReaderSize(c.conn, 1<<20)
	var err error
	for {
		var line string
		line, err = r.ReadString('\n')
		if err != nil {
			break
		}
		c.handle(strings.TrimRight(line, "\r\n"))
	}
	c.mu.Lock()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = ErrClosed
	}
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	close(c.done)
}

func (c *Client) handle(line string) {
	f := strings.Split(line, " ")
	switch f[0] {
	case "HELLO", "PONG":
		c.mu.Lock()
		if !c.helloed {
			c.helloed = true
			close(c.hello)
		}
		c.mu.Unlock()
	case "RES":
		if len(f) != 5 {
			return
		}
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		exit, err2 := strconv.Atoi(f[2])
		out, err3 := decodeField(f[3])
		serr, err4 := decodeField(f[4])
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return // not ours or damaged: the caller times out
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- Result{Stdout: out, Stderr: serr, Exit: exit}
		}
	}
}

func decodeField(s string) (string, error) {
	if !strings.HasPrefix(s, "x") {
		return "", fmt.Errorf("field %.10q lacks its x prefix", s)
	}
	b, err := base64.StdEncoding.DecodeString(s[1:])
	return string(b), err
}

// Run runs cmd with sh in dom0 and returns its output and exit code. err
// is non-nil only when the command could not be run or its result not
// received (ctx ended, channel closed); a failing command is exit != 0.
// The command is bounded in dom0 too, by ctx's deadline (or 10 minutes).
func (c *Client) Run(ctx context.Context, cmd string) (stdout, stderr string, exit int, err error) {
	r, err := c.RunResult(ctx, cmd)
	return r.Stdout, r.Stderr, r.Exit, err
}

// RunResult is Run returning a Result.
func (c *Client) RunResult(ctx context.Context, cmd string) (Result, error) {
	secs := 600
	if dl, ok := ctx.Deadline(); ok {
		secs = int(math.Ceil(time.Until(dl).Seconds()))
		if secs < 1 {
			return Result{}, fmt.Errorf("testbed: run %q: %w", cmd, context.DeadlineExceeded)
		}
	}
	id := c.newID()
	ch := make(chan Result, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return Result{}, fmt.Errorf("testbed: run %q: %w", cmd, c.err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	line := fmt.Sprintf("REQ %d %d %s\n", id, secs, base64.StdEncoding.EncodeToString([]byte(cmd)))
	if err := c.send(line); err != nil {
		return Result{}, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return Result{}, fmt.Errorf("testbed: run %q: %w", cmd, c.err)
		}
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("testbed: run %q: %w", cmd, ctx.Err())
	}
}

// Close closes the connection (the testbed keeps running).
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// Indent indents a command's output for a test log, one level per line;
// "" stays "".
func Indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
