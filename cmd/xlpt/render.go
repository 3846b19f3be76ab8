package main

import (
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/internal/road"
)

// schemaVersion marks every --json document; a change that breaks a
// script reading it gets a new version.
const schemaVersion = "xlpt/1"

// envelope opens every --json document: the schema marker, then the
// warnings and notes that also went to stderr.
type envelope struct {
	Schema   string   `json:"schema"`
	Warnings []string `json:"warnings"`
	Notes    []string `json:"notes"`
}

func (e *envelope) head() *envelope { return e }

// document is a --json result: a struct that embeds envelope.
type document interface{ head() *envelope }

// fastJSON is a document that writes itself, as printJSON would, faster
// (check's full-scan report: megabytes).
type fastJSON interface{ writeJSON(io.Writer) error }

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

// emit prints the result: doc as JSON under --json (with the schema
// marker, warnings and notes filled in), else text.
func (o *output) emit(doc document, text func(io.Writer)) error {
	if wantJSON(o.c) {
		h := doc.head()
		h.Schema, h.Warnings, h.Notes = schemaVersion, nonNil(o.road.Warnings()), nonNil(o.road.Notes())
		if fw, ok := doc.(fastJSON); ok {
			return fw.writeJSON(o.c.App.Writer)
		}
		return printJSON(o.c.App.Writer, doc)
	}
	text(o.c.App.Writer)
	return nil
}
