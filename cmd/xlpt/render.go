package main

import (
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/road"
	"github.com/xlpt/xlpt/report"
)

// output is a command's one road out: its result on stdout (text, or
// JSON with --json), and its warnings and notes on stderr, whatever the
// log level, as "xlpt: CMD: warning: ..." lines or, under --log-format
// json, as JSON records. logrus carries diagnostics only.
type output struct {
	c    *cli.Context
	road *road.Road
}

func newOutput(c *cli.Context) *output {
	o := &output{c: c, road: road.New(c.App.ErrWriter, commandName(c), c.String("log-format") == "json")}
	if e, ok := c.App.Metadata["env"].(*env); ok {
		e.out = o
	}
	return o
}

// commandName is the full name of the running command ("cfg check").
func commandName(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

func (o *output) warn(ws ...string) { o.road.Warn(ws...) }
func (o *output) note(ns ...string) { o.road.Note(ns...) }

// flush puts the warnings and notes not yet printed on stderr. Commands
// defer it, so that they come out also when the command fails.
func (o *output) flush() { o.road.Flush() }

// emit prints the result: doc under --json (with the run's warnings and
// notes), else text.
func (o *output) emit(doc report.Document, text func(io.Writer)) error {
	if wantJSON(o.c) {
		return report.Write(o.c.App.Writer, doc, o.road.Warnings(), o.road.Notes())
	}
	text(o.c.App.Writer)
	return nil
}
